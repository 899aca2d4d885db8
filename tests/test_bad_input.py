"""Bad input: one test per case. Each must print exactly one line, `Error: ...`, exit
non-zero, print no traceback, and change no existing file (every file in the working
directory, the checkpoint included, is compared byte for byte before and after).
"""
from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from fastrnn.trained import load
from fastrnn.cli import cli
from fastrnn.data import builtin_text
from fastrnn.errors import FastrnnError

TEXT = builtin_text()[:3000]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small checkpoint and the text it was trained on (shared, never modified)."""
    d = tmp_path_factory.mktemp("trained")
    (d / "corpus.txt").write_text(TEXT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["train", str(d / "corpus.txt"), "-o", str(d / "ck.h5"),
                                      "--hidden", "8", "--max-updates", "60", "-q"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return d


@pytest.fixture
def work(trained, tmp_path, monkeypatch):
    """A working directory holding corpus.txt and ck.h5 (copies); cwd is set to it."""
    for name in ("corpus.txt", "ck.h5"):
        shutil.copy(trained / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(directory) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else None
            for p in sorted(directory.rglob("*"))}


def fails(work, *args, code=None) -> str:
    """Run the CLI; assert the one-line error contract; return the line."""
    before = snapshot(work)
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    out = result.output
    assert "Traceback" not in out
    assert result.exit_code != 0, out
    if code is not None:
        assert result.exit_code == code, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), out
    assert snapshot(work) == before, "an existing file was changed or a file was created"
    return lines[0]


def train_into_existing(work, text, *more):
    """Train on `text` with --out the existing ck.h5 and --overwrite: nothing may touch it."""
    return fails(work, "train", text, "-o", "ck.h5", "--overwrite", "--hidden", 8, "-q", *more)


# ------------------------------------------------------------------------------- TEXT input
def test_missing_path(work):
    msg = train_into_existing(work, "nope.txt")
    assert msg == "Error: no such file: nope.txt"


def test_directory_as_text(work):
    (work / "adir").mkdir()
    msg = train_into_existing(work, "adir")
    assert msg == "Error: adir is a directory, not a text file"


def test_empty_file(work):
    (work / "empty.txt").write_text("")
    msg = train_into_existing(work, "empty.txt")
    assert msg == "Error: empty.txt is empty: there is no text to train on"


def test_file_shorter_than_seq_length_plus_one(work):
    (work / "short.txt").write_text("abcdefghijklmnopqrstuvwxy")       # 25 chars: needs 26
    msg = train_into_existing(work, "short.txt")
    assert msg == ("Error: short.txt (25 characters) is shorter than seq-length+1 = 26: nothing "
                   "to train on (lower --seq-length)")


@pytest.mark.parametrize("content", [bytes(range(256)) * 40, bytes(5000)],
                         ids=["all-bytes", "zero-filled"])   # invalid / valid UTF-8
def test_binary_file(work, content):
    (work / "blob.bin").write_bytes(content)
    msg = train_into_existing(work, "blob.bin")
    assert msg == "Error: blob.bin looks like a binary file (it contains NUL bytes), not text"


def test_checkpoint_given_as_text_is_binary(work):
    msg = train_into_existing(work, "ck.h5", "-o", "other.h5")
    assert "ck.h5 looks like a binary file" in msg


def test_text_that_is_not_utf8_suggests_encoding(work):
    (work / "latin.txt").write_bytes(("Un café crème, s'il vous plaît. " * 20).encode("latin-1"))
    msg = train_into_existing(work, "latin.txt")
    assert msg == ("Error: latin.txt is not valid utf-8 (byte 6); pass --encoding "
                   "(e.g. --encoding latin-1)")


@pytest.mark.parametrize("codec", ["rot13", "hex", "base64", "undefined"])
def test_a_codec_that_is_not_a_text_encoding_is_one_line(work, codec):
    """Python knows them, but they do not turn bytes into text: their decoders raised
    TypeError or binascii.Error mid-read."""
    (work / "t.txt").write_text("plain text for a codec test. " * 20)
    assert "not a text encoding" in train_into_existing(work, "t.txt", "--encoding", codec)
    assert "not a text encoding" in fails(work, "gradcheck", "t.txt", "--encoding", codec)
    assert "not a text encoding" in fails(work, "eval", "ck.h5", "t.txt", "--encoding", codec)


def test_the_suggested_encoding_works(work):
    """Not an error: the advice of the previous message is right (and UTF-16, full of NUL
    bytes, is text once its encoding is given)."""
    (work / "latin.txt").write_bytes(("Un café crème, s'il vous plaît. " * 20).encode("latin-1"))
    (work / "utf16.txt").write_bytes(("Un café crème, s'il vous plaît. " * 20).encode("utf-16"))
    for name, enc in (("latin.txt", "latin-1"), ("utf16.txt", "utf-16")):
        result = CliRunner().invoke(cli, ["train", name, "--encoding", enc, "-o", name + ".h5",
                                          "--hidden", "4", "--max-updates", "3", "-q"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "é" in load(name + ".h5").vocab


def test_utf16_without_its_encoding_is_named(work):
    (work / "utf16.txt").write_bytes(("Un café crème. " * 20).encode("utf-16"))
    msg = train_into_existing(work, "utf16.txt")
    assert msg == ("Error: utf16.txt looks like UTF-16 text (it starts with its byte-order "
                   "mark); pass --encoding utf-16")


def test_utf16_given_for_text_without_a_byte_order_mark(work):
    msg = train_into_existing(work, "corpus.txt", "--encoding", "utf-16")
    assert msg == ("Error: corpus.txt is not valid utf-16 (UTF-16 stream does not start with "
                   "BOM); check --encoding (utf-16-le / utf-16-be read UTF-16 without a "
                   "byte-order mark)")


def test_unknown_encoding(work):
    msg = train_into_existing(work, "corpus.txt", "--encoding", "no-such-codec")
    assert msg == "Error: unknown encoding: no-such-codec"


def test_malformed_json(work):
    (work / "bad.json").write_text('[{"text": "hello"}, {"text": ')
    msg = train_into_existing(work, "bad.json")
    assert msg == "Error: bad.json is not valid JSON: Expecting value at line 1"


def test_json_without_the_chosen_field(work):
    (work / "recs.json").write_text(json.dumps([{"text": TEXT[:500]}, {"body": TEXT[500:900]}]))
    msg = train_into_existing(work, "recs.json")
    assert msg == "Error: recs.json: record 1 has no field 'text' (choose with --json-field)"
    msg = train_into_existing(work, "recs.json", "--json-field", "tweet")
    assert msg == "Error: recs.json: record 0 has no field 'tweet' (choose with --json-field)"


def test_json_records_that_are_not_objects(work):
    """A list of strings was told to choose another --json-field, which cannot help."""
    (work / "strs.json").write_text(json.dumps(["a tweet", "another tweet"]))
    msg = train_into_existing(work, "strs.json")
    assert msg == ("Error: strs.json: record 0 is a JSON string, not an object; records are "
                   'objects holding the text in a field, e.g. [{"text": "..."}, ...]')
    (work / "nums.json").write_text("[1, 2]")
    assert "record 0 is a JSON number" in train_into_existing(work, "nums.json")


# ------------------------------------------------------------------------ train options
@pytest.mark.parametrize("option, value, expected", [
    ("--hidden", "0", "Error: Invalid value for '--hidden' / '-m': 0 is not in the range x>=1."),
    ("--eta", "0", "Error: Invalid value for '--eta': 0.0 is not in the range x>0."),
    ("--eta", "-0.1", "Error: Invalid value for '--eta': -0.1 is not in the range x>0."),
    ("--seq-length", "0", "Error: Invalid value for '--seq-length': 0 is not in the range x>=1."),
    ("--epochs", "0", "Error: Invalid value for '--epochs': 0 is not in the range x>=1."),
    ("--max-updates", "-5",
     "Error: Invalid value for '--max-updates': -5 is not in the range x>=0."),
    ("--hidden", "ten", "Error: Invalid value for '--hidden' / '-m': 'ten' is not a valid "
                        "integer range."),
], ids=["hidden-0", "eta-0", "eta-negative", "seq-length-0", "epochs-0", "max-updates-negative",
        "hidden-not-a-number"])
def test_bad_train_option(work, option, value, expected):
    msg = train_into_existing(work, "corpus.txt", option, value)
    assert msg == expected


def test_existing_out_without_overwrite(work):
    msg = fails(work, "train", "corpus.txt", "-o", "ck.h5", "-q")
    assert msg == "Error: ck.h5 exists; pass --overwrite to replace it, or --resume ck.h5"


def test_out_empty_is_refused_before_training(work):
    msg = fails(work, "train", "corpus.txt", "-o", "", "-q")
    assert msg == "Error: --out is empty; give the checkpoint's file name (e.g. -o ckpt.h5)"
    msg = fails(work, "report", "ck.h5", "-o", "")
    assert msg == "Error: --out is empty; give the report's directory (e.g. -o report)"


def test_out_a_directory_says_so_with_or_without_overwrite(work):
    (work / "d").mkdir()
    for more in ([], ["--overwrite"]):
        msg = fails(work, "train", "corpus.txt", "-o", "d", "-q", *more)
        assert msg == f"Error: --out d is a directory; give a file name (e.g. {'d/ckpt.h5'})"


def test_out_in_a_missing_directory(work):
    msg = fails(work, "train", "corpus.txt", "-o", "no/such/dir/ck.h5", "-q")
    assert msg == f"Error: --out: directory {work / 'no/such/dir'} does not exist"


def test_out_is_the_text_itself(work):
    msg = fails(work, "train", "corpus.txt", "-o", "corpus.txt", "--overwrite", "-q")
    assert msg == "Error: --out corpus.txt is TEXT itself; choose another checkpoint name"


# ------------------------------------------------------------------------------- checkpoints
def truncated(work, cut: float) -> str:
    raw = (work / "ck.h5").read_bytes()
    (work / "cut.h5").write_bytes(raw[:int(len(raw) * cut)])
    return "cut.h5"


def not_fastrnn(work) -> str:
    with h5py.File(work / "other.h5", "w") as f:
        f["x"] = np.arange(3)
    return "other.h5"


def future_version(work) -> str:
    shutil.copy(work / "ck.h5", work / "future.h5")
    with h5py.File(work / "future.h5", "r+") as f:
        f.attrs["format_version"] = 3
    return "future.h5"


def damaged(work, edit) -> str:
    """A copy of ck.h5 with one part broken by edit(h5py.File)."""
    shutil.copy(work / "ck.h5", work / "damaged.h5")
    with h5py.File(work / "damaged.h5", "r+") as f:
        edit(f)
    return "damaged.h5"


def _reshape_w(f):
    del f["params/W"]
    f["params/W"] = np.zeros((1, 1))


CHECKPOINT_CASES = {
    "missing": (lambda w: "nope.h5", "Error: no such checkpoint: nope.h5"),
    "directory": (lambda w: (w / "adir").mkdir() or "adir",
                  "Error: adir is a directory, not a checkpoint"),
    "empty": (lambda w: truncated(w, 0.0),
              "Error: cut.h5 is not a readable HDF5 file (truncated or not HDF5)"),
    "truncated-10%": (lambda w: truncated(w, 0.1),
                      "Error: cut.h5 is not a readable HDF5 file (truncated or not HDF5)"),
    "truncated-50%": (lambda w: truncated(w, 0.5),
                      "Error: cut.h5 is not a readable HDF5 file (truncated or not HDF5)"),
    "truncated-last-byte": (lambda w: truncated(w, 0.99999),
                            "Error: cut.h5 is not a readable HDF5 file (truncated or not HDF5)"),
    "text-file": (lambda w: "corpus.txt",
                  "Error: corpus.txt is not a readable HDF5 file (truncated or not HDF5)"),
    "not-fastrnn": (not_fastrnn, "Error: other.h5 is an HDF5 file but not a fastrnn checkpoint"),
    # an array compared elementwise: "The truth value of an array ... is ambiguous"
    "format-an-array": (lambda w: damaged(w, lambda f: f.attrs.__setitem__(
        "format", np.array([b"fastrnn-checkpoint", b"x"]))),
        "Error: damaged.h5 is an HDF5 file but not a fastrnn checkpoint"),
    "future-version": (future_version, "Error: future.h5: checkpoint format version expected "
                                       "1 or 2, got 3 (made by a newer fastrnn; upgrade)"),
    # the reason in brackets is h5py's own wording, which varies between versions
    "missing-group": (lambda w: damaged(w, lambda f: f.__delitem__("optimizer")),
                      "Error: damaged.h5: damaged checkpoint (*'optimizer' doesn't exist))"),
    "wrong-shape": (lambda w: damaged(w, _reshape_w),
                    "Error: damaged.h5: W: expected shape (8, 8), got (1, 1)"),
    "bad-config-json": (lambda w: damaged(w, lambda f: f.attrs.__setitem__("config", "{x")),
                        "Error: damaged.h5: damaged checkpoint (Expecting property name "
                        "enclosed in double quotes: line 1 column 2 (char 1))"),
    "bad-rng-state": (lambda w: damaged(w, lambda f: f["state"].attrs.__setitem__(
        "rng_state", '{"bit_generator": "PCG64"}')),
        "Error: damaged.h5: damaged checkpoint (/state rng_state is not a numpy PCG64 state)"),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
@pytest.mark.parametrize("command", ["sample", "resume"])
def test_bad_checkpoint(work, case, command):
    make, expected = CHECKPOINT_CASES[case]
    path = make(work)
    if command == "sample":
        msg = fails(work, "sample", path, "-n", 10)
    else:
        msg = fails(work, "train", "corpus.txt", "--resume", path, "-o", "new.h5", "-q")
    if "*" in expected:
        head, tail = expected.split("*")
        assert msg.startswith(head) and msg.endswith(tail), msg
    else:
        assert msg == expected


def test_resume_with_a_different_vocabulary(work):
    (work / "other.txt").write_text(TEXT.replace("e", "é").replace("x", ""), encoding="utf-8")
    msg = fails(work, "train", "other.txt", "--resume", "ck.h5", "-q")
    assert msg == ("Error: TEXT's vocabulary differs from the checkpoint's (ck.h5): expected "
                   f"{len(set(TEXT))} characters, got {len(set(TEXT)) - 1} (not in the checkpoint: "
                   "'é'; missing from TEXT: 'e', 'x')")


def test_resume_with_another_text_of_the_same_vocabulary(work):
    (work / "longer.txt").write_text(TEXT + TEXT[:500], encoding="utf-8")
    msg = fails(work, "train", "longer.txt", "--resume", "ck.h5", "-q")
    assert msg == ("Error: TEXT is not the text ck.h5 was trained on: expected 3,000 training "
                   "characters, got 3,500")


def test_resume_with_another_text_of_the_same_length_and_vocabulary(work):
    (work / "reversed.txt").write_text(TEXT[::-1], encoding="utf-8")
    msg = fails(work, "train", "reversed.txt", "--resume", "ck.h5", "-q")
    assert msg == ("Error: TEXT is not the text ck.h5 was trained on: as long (3,000 training "
                   "characters) and with the same vocabulary, but other characters")


def test_the_library_refuses_another_text_of_the_same_length_and_vocabulary(work):
    from fastrnn import load_state, read_corpus, train

    (work / "reversed.txt").write_text(TEXT[::-1], encoding="utf-8")
    state = load_state("ck.h5")
    with pytest.raises(FastrnnError, match="^the corpus differs from the one trained on: the "
                                           "same 3,000 characters long"):
        train(state, read_corpus("reversed.txt"))


def test_resume_cannot_change_the_model(work):
    msg = fails(work, "train", "corpus.txt", "--resume", "ck.h5", "--hidden", 9, "-q")
    assert msg == "Error: --hidden cannot change on --resume (checkpoint has 8)"


def test_resume_cannot_add_dropout_to_the_course_algorithm(work):
    # ck.h5 is DD2424's algorithm (vanilla, one layer, one stream, AdaGrad), which the course
    # engine runs; dropout needs the general engine, whose checkpoint differs. Resumed in
    # place (the default --out), the run once trained on without dropout and saved a config
    # naming the other engine: a checkpoint that no longer loaded.
    msg = fails(work, "train", "corpus.txt", "--resume", "ck.h5", "--dropout", 0.1,
                "--max-updates", 80, "-q")
    assert msg == ("Error: --dropout cannot change from 0 to 0.1 on --resume of this run: a "
                   "vanilla RNN with one layer, one stream and AdaGrad has dropout only by "
                   "starting a new run (the course's algorithm and the general engine store "
                   "their checkpoints differently; docs/models.md)")


# ------------------------------------------------------------------------- sample options
@pytest.mark.parametrize("args, expected", [
    (["-n", "-1"], "Error: -n must be >= 0, got -1"),
    (["--temperature", "-0.5"], "Error: --temperature must be >= 0 (0 = argmax), got -0.5"),
    (["--temperature", "nan"],
     "Error: --temperature must be a finite number >= 0 (0 = argmax), got nan"),
    (["--top-p", "0"], "Error: --top-p must be in (0, 1], got 0.0"),
    (["--top-p", "1.5"], "Error: --top-p must be in (0, 1], got 1.5"),
    (["--top-p", "-0.2"], "Error: --top-p must be in (0, 1], got -0.2"),
    (["--prime", "the Жук and the 象"],
     "Error: characters not in the model's vocabulary: 'Ж', 'к', 'у', '象' (use --skip-unknown "
     "to drop them)"),
    (["--prime", "Жук", "--skip-unknown"],
     "Error: --prime has no characters of the model's vocabulary"),
], ids=["n-negative", "temperature-negative", "temperature-nan", "top-p-0", "top-p-above-1",
        "top-p-negative", "prime-unknown", "prime-only-unknown"])
def test_bad_sample_option(work, args, expected):
    msg = fails(work, "sample", "ck.h5", *args)
    assert msg == expected


def test_skip_unknown_drops_the_unknown_prime_characters(work):
    """Not an error: with --skip-unknown the prime's known characters are what the model
    reads, and what is printed before its continuation."""
    result = CliRunner().invoke(cli, ["sample", "ck.h5", "-n", "40", "--seed", "1", "--prime",
                                      "the Жук", "--skip-unknown"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output[:-1]
    assert out.startswith("the ") and "Ж" not in out and len(out) == 4 + 40
    assert set(out) <= set(TEXT)
    same = CliRunner().invoke(cli, ["sample", "ck.h5", "-n", "40", "--seed", "1", "--prime",
                                    "the "], catch_exceptions=False).output
    assert same[:-1] == out               # the dropped characters changed nothing


def test_temperature_zero_is_argmax_and_says_so(work):
    """--temperature 0 is defined (not an error): the most likely character every step,
    whatever the seed; --help says so."""
    assert "0 = argmax" in CliRunner().invoke(cli, ["sample", "--help"]).output
    texts = {CliRunner().invoke(cli, ["sample", "ck.h5", "-n", "60", "-t", "0", "--seed", s],
                                catch_exceptions=False).output[:-1] for s in ("1", "2", "3")}
    assert len(texts) == 1
    model = load("ck.h5")
    p = {k: v.astype(np.float64) for k, v in model.params.items()}
    h, x, greedy = model.hprev.astype(np.float64), model.x0, []
    for _ in range(60):
        h = np.tanh(p["W"] @ h + p["U"][:, x] + p["b"])
        x = int(np.argmax(p["V"] @ h + p["c"]))
        greedy.append(model.vocab[x])
    assert texts == {"".join(greedy)}
