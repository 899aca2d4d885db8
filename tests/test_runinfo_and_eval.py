"""`fastrnn info`, `evolution` and `eval`: the numbers they print are the checkpoint's (or
recomputed independently here), and bad input gives one-line errors."""
from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest

from fastrnn import __version__, reference
from fastrnn.checkpoint import load_state
from fastrnn.trained import load
from fastrnn.data import builtin_text, chunk_schedule, read_corpus, split_validation
from fastrnn.evaluate import evaluate
from fastrnn.runinfo import updates_per_epoch

from .conftest import PASSAGE
from .clitools import one_line_error, run

TRAINED = PASSAGE[:76]   # 3 chunks of 25 characters: every character after the first is a target


@pytest.fixture(scope="module")
def val_run(tmp_path_factory):
    """300 updates of m=16 on 6000 characters, 10% held out, samples and validation every 100."""
    d = tmp_path_factory.mktemp("inspect")
    text = d / "small.txt"
    text.write_text(builtin_text()[:6000], encoding="utf-8")
    out = d / "ck.h5"
    run("train", text, "-o", out, "--hidden", 16, "--max-updates", 300, "--sample-every", 100,
        "--sample-length", 40, "--val-frac", 0.1, "--eval-every", 100, "-q")
    return str(out), str(text)


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    """A 76-character passage learnt by heart (3000 updates of m=32)."""
    d = tmp_path_factory.mktemp("overfit")
    text = d / "passage.txt"
    text.write_text(TRAINED, encoding="utf-8")
    out = d / "ck.h5"
    run("train", text, "-o", out, "--hidden", 32, "--epochs", 1000, "--sample-every", 0, "-q")
    return str(out), d


# ------------------------------------------------------------------------------------- info
def test_info_json_has_the_checkpoint_numbers(val_run):
    ckpt, text = val_run
    state = load_state(ckpt)
    s = json.loads(run("info", ckpt, "--json").output)
    train_part, _ = split_validation(read_corpus(text), 0.1)
    assert s["updates"] == state.update == 300
    assert s["updates_per_epoch"] == len(chunk_schedule(train_part, 25)[0])
    assert s["epochs_completed"] == state.epoch == 1
    assert s["epochs"] == pytest.approx(300 / s["updates_per_epoch"])
    assert s["corpus_name"] == "small.txt" and s["corpus_chars"] == train_part.n_chars
    assert s["vocab_size"] == len(set(builtin_text()[:6000]))
    assert s["config"]["hidden"] == 16 and s["config"]["val_frac"] == 0.1
    assert s["latest_smooth_loss"] == state.smooth_loss
    assert s["best_smooth_loss"] == state.best_smooth
    assert s["best_update"] == state.best_update
    assert s["wall_time_s"] == state.wall_time > 0
    assert s["validation"]["latest_loss"] == state.val_history[-1][1]
    assert s["validation"]["best_loss"] == min(v for _, v in state.val_history)
    assert s["fastrnn_version"] == s["written_by_fastrnn"] == __version__
    assert s["parameters"] == sum(v.size for v in state.params.values())


def test_info_text_shows_losses_in_nats_and_bits(val_run):
    ckpt, _ = val_run
    state = load_state(ckpt)
    out = run("info", ckpt).output
    nats = state.smooth_loss / 25
    assert f"latest {state.smooth_loss:.3f} ({nats:.4f} nats/char, " \
           f"{nats / math.log(2):.4f} bits/char)" in out
    best = state.best_smooth / 25
    assert f"best   {state.best_smooth:.3f} ({best:.4f} nats/char" in out
    assert f"at update {state.best_update:,}" in out
    val = state.val_history[-1][1]
    assert f"{val:.4f} nats/char, {val / math.log(2):.4f} bits/char, perplexity " \
           f"{math.exp(val):.3f}" in out
    assert "small.txt" in out and f"K={len(state.vocab)}" in out and "m=16" in out
    assert f"{state.update:,} updates" in out and f"fastrnn {__version__}" in out


def test_updates_per_epoch_before_and_after_the_first_epoch(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(builtin_text()[:301], encoding="utf-8")   # (301 - 1) // 25 = 12 chunks
    per = len(chunk_schedule(read_corpus(str(text)), 25)[0])
    for updates, epochs in ((5, 0), (24, 2), (30, 2)):
        run("train", text, "-o", tmp_path / "c.h5", "--overwrite", "--hidden", 8, "--epochs", 3,
            "--max-updates", updates, "--sample-every", 0, "-q")
        state = load_state(str(tmp_path / "c.h5"))
        assert (state.update, state.epoch) == (updates, epochs)
        assert updates_per_epoch(state) == per == 12
    assert "30 updates = 2.50 epochs (2 completed; 12 updates/epoch)" in \
        run("info", tmp_path / "c.h5").output


# -------------------------------------------------------------------------------- evolution
def test_evolution_prints_every_logged_sample(val_run):
    ckpt, _ = val_run
    state = load_state(ckpt)
    out = run("evolution", ckpt).output
    assert [u for u, _, _ in state.samples] == [0, 100, 200]
    assert out.count("--- update ") == 3
    for u, s, t in state.samples:
        assert f"--- update {u:,}, smooth loss {s:.3f} ({s / 25:.4f} nats/char)\n{t}" in out
    only = run("evolution", ckpt, "--every", 200).output
    assert only.count("--- update ") == 2 and "--- update 100," not in only


def test_evolution_without_samples(overfit):
    ckpt, _ = overfit
    assert run("evolution", ckpt).output.strip() == "no samples logged"


# ------------------------------------------------------------------------------------- eval
def _eval_json(ckpt, path, *extra):
    return json.loads(run("eval", ckpt, path, "--json", *extra).output)


def test_eval_overfit_model_low_on_its_text_high_on_random_text(overfit):
    ckpt, d = overfit
    trained = _eval_json(ckpt, d / "passage.txt")
    K = len(set(TRAINED))
    rng = np.random.default_rng(0)
    vocab = sorted(set(TRAINED))
    (d / "random.txt").write_text("".join(rng.choice(vocab, 2000)), encoding="utf-8")
    rand = _eval_json(ckpt, d / "random.txt")
    assert trained["predictions"] == 75 and trained["unknown_chars"] == 0
    assert trained["nats_per_char"] < 0.05
    assert rand["nats_per_char"] > math.log(K)        # worse than guessing uniformly
    assert rand["perplexity"] > 100 * trained["perplexity"]
    for r in (trained, rand):
        assert r["bits_per_char"] == pytest.approx(r["nats_per_char"] / math.log(2))
        assert r["perplexity"] == pytest.approx(math.exp(r["nats_per_char"]))


def test_eval_matches_the_numpy_reference(val_run):
    ckpt, text = val_run
    for which in ("best", "latest"):
        model = load(ckpt, which)
        lookup = {ch: i for i, ch in enumerate(model.vocab)}
        ids = [lookup[ch] for ch in builtin_text()[:6000]]
        total = reference.loss_only(model.params, ids[:-1], ids[1:], np.zeros(16))
        got = _eval_json(ckpt, text, "--" + which)
        assert got["nats_per_char"] == pytest.approx(total / (len(ids) - 1), rel=1e-9)
        assert got["chars"] == 6000 and got["predictions"] == 5999


def test_eval_skips_and_reports_unknown_characters(overfit):
    ckpt, d = overfit
    text = TRAINED[:30] + "\u00e9\u20ac\u00e9" + TRAINED[30:]
    (d / "unknown.txt").write_text(text, encoding="utf-8")
    got = _eval_json(ckpt, d / "unknown.txt")
    assert got["chars"] == 79 and got["unknown_chars"] == 3 and got["predictions"] == 75
    assert got["unknown"] == {"\u00e9": 2, "\u20ac": 1}
    model = load(ckpt)
    assert got["nats_per_char"] == pytest.approx(evaluate(model.params, model.vocab,
                                                          [TRAINED]).nats, rel=1e-12)
    out = run("eval", ckpt, d / "unknown.txt").output
    assert "3 characters outside the vocabulary (2 distinct: '\u00e9' x2, '\u20ac' x1)" in out


def test_eval_reads_stdin(overfit):
    ckpt, d = overfit
    from_stdin = json.loads(run("eval", ckpt, "-", "--json", input=TRAINED).output)
    assert from_stdin["nats_per_char"] == _eval_json(ckpt, d / "passage.txt")["nats_per_char"]


def test_eval_error_when_nothing_can_be_predicted(overfit):
    ckpt, d = overfit
    (d / "alien.txt").write_text("\u00e9\u20ac" * 10, encoding="utf-8")
    msg = one_line_error(run("eval", ckpt, d / "alien.txt", ok=False))
    assert "0 characters of the model's vocabulary (20 outside it)" in msg


# ----------------------------------------------------------------------------------- errors
@pytest.fixture
def other_h5(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.arange(3)
    return tmp_path / "other.h5"


@pytest.mark.parametrize("command", [["info"], ["evolution"], ["eval"]])
def test_bad_checkpoints_give_one_line_errors(command, tmp_path, other_h5):
    (tmp_path / "t.txt").write_text("some text")
    extra = [tmp_path / "t.txt"] if command == ["eval"] else []
    msg = one_line_error(run(*command, tmp_path / "missing.h5", *extra, ok=False))
    assert "no such checkpoint" in msg
    msg = one_line_error(run(*command, other_h5, *extra, ok=False))
    assert "not a fastrnn checkpoint" in msg
    msg = one_line_error(run(*command, tmp_path / "t.txt", *extra, ok=False))
    assert "not a readable HDF5 file" in msg


def test_eval_missing_text_one_line_error(overfit, tmp_path):
    ckpt, _ = overfit
    assert "no such file" in one_line_error(run("eval", ckpt, tmp_path / "nope.txt", ok=False))


def test_validation_method_says_how_each_kind_of_run_was_scored():
    from fastrnn.config import TrainConfig
    from fastrnn.runinfo import validation_method

    assert "starting from training's state" in validation_method(TrainConfig())
    assert "from a zero state" in validation_method(TrainConfig(cell="lstm"))
    for cfg in (TrainConfig(reset_per_record=True),
                TrainConfig(cell="gru", batch=3, reset_per_record=True)):
        method = validation_method(cfg)
        assert "held-out records, each read from a zero state" in method
        assert "training's state" not in method
