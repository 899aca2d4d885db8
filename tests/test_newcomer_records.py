"""Per-record training: the end-of-record symbol, `sample --records/--until`,
`--unescape-html`, and per-character figures divided by the characters predicted."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fastrnn.checkpoint import load_state
from fastrnn.data import END_OF_RECORD, chunk_schedule, read_records
from fastrnn.runinfo import summary
from .clitools import one_line_error, run

WORDS = ["short", "tweets", "end", "here", "now", "ok"]


@pytest.fixture(scope="module")
def tweets(tmp_path_factory):
    """Records of 1-3 words, so that a trained model must learn where a record ends."""
    d = tmp_path_factory.mktemp("tweets")
    rng = np.random.default_rng(0)
    recs = [{"text": " ".join(rng.choice(WORDS, rng.integers(1, 4))) + " &amp; bye"}
            for _ in range(120)]
    path = d / "tweets.json"
    path.write_text(json.dumps(recs))
    out = d / "tweets.h5"
    run("train", path, "-o", out, "--reset-per-record", "--unescape-html", "--epochs", 40,
        "--hidden", 32, "--sample-every", 0, "-q")
    return path, out


def test_records_carry_the_end_of_record_symbol(tweets):
    path, _ = tweets
    corpus = read_records(str(path), reset_per_record=True, unescape_html=True)
    assert END_OF_RECORD in corpus.vocab and "&amp;" not in "".join(corpus.vocab)
    eor = corpus.vocab.index(END_OF_RECORD)
    for s, e in corpus.doc_bounds():
        assert corpus.ids[s] == eor and corpus.ids[e - 1] == eor
        assert eor not in corpus.ids[s + 1:e - 1]
    joined = read_records(str(path), reset_per_record=False)
    assert END_OF_RECORD not in joined.vocab and "&" in joined.vocab and ";" in joined.vocab


def test_sample_records_prints_whole_records_of_natural_length(tweets):
    _, ckpt = tweets
    out = run("sample", ckpt, "--records", 5, "--seed", 3, "-t", 0.5).output
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == 6, out
    for line in lines[:5]:
        assert END_OF_RECORD not in line
        assert line.endswith(" & bye"), out           # learned ends, entities decoded
        assert len(line) < 60
    assert run("sample", ckpt, "--records", 5, "--seed", 3, "-t", 0.5).output == out


def test_sample_until_stops_after_the_string(tweets):
    _, ckpt = tweets
    out = run("sample", ckpt, "--until", "bye", "-n", 500, "--seed", 1).output
    assert out.endswith("bye\n") and out.count("bye") == 1


@pytest.mark.parametrize("pieces", [["ab", "cd", "ef"], ["xxab", "cd", "ef"], ["a", "b", "c", "def"],
                                    ["abcdef"], ["zab", "c", "dzz"]])
def test_until_finds_a_string_spread_over_pieces(pieces):
    """The sampler streams pieces of text; an --until string may span several short ones."""
    from fastrnn.cli import _cut_at

    text = "".join(pieces)
    assert "".join(_cut_at(iter(pieces), "abcd")) == text[:text.index("abcd") + 4]
    assert "".join(_cut_at(iter(pieces), "none")) == text


def test_records_need_a_per_record_model(small_text, tmp_path):
    out = tmp_path / "plain.h5"
    run("train", small_text, "-o", out, "--hidden", 8, "--max-updates", 10, "-q")
    msg = one_line_error(run("sample", out, "--records", 2, ok=False))
    assert "end-of-record" in msg and "--reset-per-record" in msg


def test_a_record_holding_the_symbol_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"text": "fine"}, {"text": "not " + END_OF_RECORD + " fine"}]))
    msg = one_line_error(run("train", path, "--reset-per-record", "-o", tmp_path / "b.h5",
                             ok=False))
    assert "record 1" in msg and "U+241E" in msg


def test_per_char_figures_divide_by_the_characters_predicted(tweets):
    path, ckpt = tweets
    state = load_state(str(ckpt))
    corpus = read_records(str(path), reset_per_record=True, unescape_html=True)
    lengths = chunk_schedule(corpus, 25, partial_tail=True)[1]
    assert lengths.mean() < 20                        # short records: shorter chunks
    s = summary(state, str(ckpt))
    assert s["chars_per_update"] == pytest.approx(lengths.mean())
    info = run("info", ckpt).output
    per_char = state.smooth_loss / lengths.mean()
    assert f"({per_char:.4f} nats/char" in info
    assert f"({state.smooth_loss / 25:.4f} nats/char" not in info
    # and eval of the training text reads about the same per character as the smooth loss
    ev = json.loads(run("eval", ckpt, path, "--json").output)
    assert ev["nats_per_char"] == pytest.approx(per_char, rel=0.25)


def test_plot_reads_per_record_losses_per_character_predicted(tweets):
    from fastrnn.plot import loss_figure

    state = load_state(str(tweets[1]))
    cpu = state.config.chars_per_update
    ax = loss_figure(state).axes[0]
    assert "characters predicted on average" in ax.get_ylabel()
    right = [c for c in ax.child_axes if c.get_ylabel() == "nats per character"]
    assert len(right) == 1
    forward = right[0]._functions[0]
    assert forward(cpu * 2.0) == pytest.approx(2.0)


def test_prime_continues_from_the_models_state(small_text, tmp_path):
    """--prime feeds the saved start character and the prime from the model's saved state
    (from 0 a trained model can latch into garbage), then samples as without a prime."""
    from fastrnn import load
    from fastrnn.data import encode
    from fastrnn.sample import prime, stream_until

    out = tmp_path / "p.h5"
    run("train", small_text, "-o", out, "--hidden", 16, "--max-updates", 300, "-q")
    got = run("sample", out, "--prime", "The ", "-n", 80, "--seed", 5).output
    m = load(str(out))
    h, x0 = prime(m.params, m.hprev.copy(),
                  np.concatenate([[m.x0], encode("The ", m.vocab)]).astype(np.int32))
    want = "".join(stream_until(m.params, m.vocab, h, x0, 80, np.random.default_rng(5)))
    assert got == "The " + want + "\n"
    assert m.sample(80, seed=5, prime="The ") == want     # the Python API primes alike
    plain = run("sample", out, "-n", 80, "--seed", 5).output
    assert plain == m.sample(80, seed=5) + "\n"       # without a prime: as the Python API


def test_the_python_api_scores_a_list_of_records_as_eval_scores_their_json(tweets):
    from fastrnn import load

    path, out = tweets
    cli = json.loads(run("eval", out, path, "--json").output)
    records = [r["text"] for r in json.loads(path.read_text())]     # "&amp;": decoded as eval
    api = load(str(out)).evaluate(records)
    assert api.predictions == cli["predictions"]
    assert api.nats == pytest.approx(cli["nats_per_char"], rel=1e-12)
    # a single string is a text, as `eval` reads a .txt file: no end-of-record symbols
    plain = records[0].replace("&amp;", "&")
    one = load(str(out)).evaluate(plain)
    assert one.predictions == len(plain) - 1 and one.n_unknown == 0


def test_eval_reads_json_records_from_stdin_with_json_field(tweets):
    path, out = tweets
    from_file = json.loads(run("eval", out, path, "--json").output)
    from_stdin = json.loads(run("eval", out, "-", "--json-field", "text", "--json",
                                input=path.read_text()).output)
    assert from_stdin["predictions"] == from_file["predictions"]
    assert from_stdin["nats_per_char"] == from_file["nats_per_char"]
    assert from_stdin["unknown_chars"] == 0


@pytest.mark.parametrize("option", [["--reset-per-record"], ["--record-separator", "|"],
                                    ["--unescape-html"]])
def test_record_options_on_plain_text_are_refused(small_text, tmp_path, option):
    """They only say how JSON records are read: on a plain text they did nothing (or cut the
    text's last chunk short) without a word."""
    out = tmp_path / "p.h5"
    msg = one_line_error(run("train", small_text, *option, "--max-updates", 5, "-o", out,
                             ok=False))
    assert option[0] in msg and "plain text" in msg and not out.exists()
    msg = one_line_error(run("sweep", small_text, "--grid", "hidden=4", *option, "-o",
                             tmp_path / "s", ok=False))
    assert option[0] in msg and "plain text" in msg
    if option == ["--unescape-html"]:            # eval too (it was silently ignored)
        run("train", small_text, "--hidden", 4, "--max-updates", 2, "-q", "-o", out)
        msg = one_line_error(run("eval", out, small_text, *option, ok=False))
        assert option[0] in msg and "plain text" in msg


def test_the_records_field_is_kept_for_resume_and_eval(tmp_path):
    """A run on `--json-field body` is resumed and scored without repeating it (both said
    "record 0 has no field 'text'")."""
    path = tmp_path / "obj.json"
    path.write_text(json.dumps({"items": [{"body": f"post {i}: hello there #{i % 5}"}
                                          for i in range(80)]}))
    out = tmp_path / "b.h5"
    run("train", path, "--json-field", "body", "--hidden", 8, "--max-updates", 20,
        "--sample-every", 0, "-q", "-o", out)
    assert load_state(str(out)).json_field == "body"
    assert "(JSON records, field 'body')" in run("info", out).output
    run("train", path, "--resume", out, "--max-updates", 40, "-q")
    assert load_state(str(out)).update == 40
    scored = run("eval", out, path, "--json").output
    assert json.loads(scored)["predictions"] > 0
    assert json.loads(scored) == json.loads(run("eval", out, path, "--json-field", "body",
                                                "--json").output)
    # records in a file not named .json (--json-field made them records): eval of that file
    named_txt = tmp_path / "posts.txt"
    named_txt.write_text(path.read_text())
    txt_out = tmp_path / "t.h5"
    run("train", named_txt, "--json-field", "body", "--hidden", 8, "--max-updates", 5,
        "--sample-every", 0, "-q", "-o", txt_out)
    assert json.loads(run("eval", txt_out, named_txt, "--json").output)["unknown_chars"] == 0
    # report reads it too; gradcheck and report take --json-field (the error named it)
    run("report", out, path, "-o", tmp_path / "rep", "-n", 10)
    run("gradcheck", path, "--json-field", "body")
    plain = tmp_path / "plain.h5"
    run("train", "builtin:python-docs", "--hidden", 8, "--max-updates", 5, "-q", "-o", plain)
    assert load_state(str(plain)).json_field == ""


def test_the_record_separator_reads_escapes_as_its_help_shows_them(tmp_path):
    """The help (and README) show the default as "\\n": typed so, it was a backslash and an n,
    two new characters of the vocabulary. Escapes round-trip through the printed command."""
    from fastrnn.cli import escape_separator, unescape_separator

    records = tmp_path / "r.json"
    records.write_text(json.dumps([{"text": f"record {i}"} for i in range(40)]))
    out = tmp_path / "r.h5"
    for typed, meant in (("\\n", "\n"), ("\\t|", "\t|"), ("\\\\", "\\"), ("a\\qb", "a\\qb")):
        run("train", records, "--record-separator", typed, "--hidden", 4, "--max-updates", 2,
            "-q", "-o", out, "--overwrite")
        assert load_state(str(out)).config.record_separator == meant
        assert unescape_separator(escape_separator(meant)) == meant
    msg = one_line_error(run("train", records, "--reset-per-record", "--record-separator",
                             "XYZ", "-q", "-o", tmp_path / "p.h5", ok=False))
    assert "--record-separator" in msg and "--reset-per-record" in msg
