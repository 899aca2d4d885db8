"""Exact resume, the overwrite rules and the divergence guard (issue: never lose training).

A run of A updates, stopped and resumed up to A+B, must be bit-identical (np.array_equal) to
A+B updates in one go: parameters, AdaGrad state, best model, hidden state, position in the
text, smooth loss, RNG (so the progress samples) and every history.
"""
from __future__ import annotations

import importlib
import os
import shlex
import signal

import numpy as np
import pytest

import fastrnn.cli
from fastrnn.checkpoint import load_state, save
from fastrnn.config import TrainConfig
from fastrnn.data import read_corpus, split_validation
from fastrnn.train import Callbacks, DivergenceError, new_state, train

from .clitools import run
from .statecmp import assert_same_state

train_module = importlib.import_module("fastrnn.train")   # fastrnn.train is the function

# a run that crosses epoch ends (6000 chars, val 10% -> 215 updates per epoch) and has
# samples, periodic checkpoints and validation at different periods
COMMON = ["--hidden", 16, "--epochs", 9, "--sample-every", 70, "--sample-length", 30,
          "--checkpoint-every", 90, "--val-frac", 0.1, "--eval-every", 50, "-q"]


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


# ------------------------------------------------------------------------------ exact resume
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_resume_after_a_updates_equals_one_run_of_a_plus_b(small_text, tmp_path, dtype,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    A, total = 257, 600          # A: a multiple of no period (70, 90, 50) and past an epoch end
    run("train", small_text, "-o", "full.h5", *COMMON, "--dtype", dtype, "--max-updates", total)
    run("train", small_text, "-o", "part.h5", *COMMON, "--dtype", dtype, "--max-updates", A)
    part = load_state("part.h5")
    assert part.update == A and part.epoch == 1
    # "resume for B more" = --max-updates A+B (totals count from the start); --out defaults
    # to the --resume file
    run("train", small_text, "--resume", "part.h5", "--max-updates", total, "-q")
    assert not os.path.exists("ckpt.h5")
    got, want = load_state("part.h5"), load_state("full.h5")
    assert got.update == total and got.params["W"].dtype == np.dtype(dtype)
    assert [s[0] for s in want.samples] == list(range(0, total, 70))
    assert [v[0] for v in want.val_history] == list(range(50, total + 1, 50))
    assert_same_state(got, want)
    # and the resumed model samples exactly like the uninterrupted one
    a = run("sample", "part.h5", "-n", 200, "--seed", 5).output
    assert a == run("sample", "full.h5", "-n", 200, "--seed", 5).output


class _StopAfter(Callbacks):
    """Stops (as Ctrl-C does) at the first check after `update` updates."""

    def __init__(self, update: int):
        self.update, self.state = update, None

    def on_start(self, state, total, per_epoch):
        self.state = state

    def should_stop(self):
        return self.state.update >= self.update


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_interrupted_at_arbitrary_updates_and_reloaded_is_bit_identical(small_text, tmp_path,
                                                                        dtype, monkeypatch):
    """Stops wherever a block ends -- with blocks of 37 updates, never where a checkpoint or
    sample is due -- each time through save/load, then compared with one uninterrupted run."""
    full, val = split_validation(read_corpus(small_text), 0.1)
    cfg = TrainConfig(hidden=16, epochs=3, sample_every=70, sample_length=30,
                      checkpoint_every=90, val_frac=0.1, eval_every=50, dtype=dtype, seed=7)
    want = train(new_state(full, cfg), full, val=val)
    monkeypatch.setattr(train_module, "PROGRESS_EVERY", 37)
    state = new_state(full, TrainConfig(**cfg.as_dict()))
    path = str(tmp_path / "ck.h5")
    stops = []
    rng = np.random.default_rng(11)
    for target in sorted(rng.choice(np.arange(1, 3 * 215), size=5, replace=False)):
        train(state, full, callbacks=_StopAfter(int(target)), val=val)
        assert state.interrupted
        stops.append(state.update)
        save(state, path)
        saved, state = state, load_state(path)
        assert_same_state(state, saved)          # the checkpoint holds all of it
    assert any(u % 90 and u % 70 and u % 50 for u in stops), stops
    train(state, full, val=val)
    assert not state.interrupted
    assert_same_state(state, want)


def test_ctrl_c_then_the_printed_command_finishes_the_original_plan(small_text, tmp_path,
                                                                    monkeypatch):
    """A real SIGINT delivered to this process mid-training (from the progress callback, so
    at a known moment): exit 130, one message naming the checkpoint and the command to
    continue; that command (no plan options) then ends where one uninterrupted run ends."""
    monkeypatch.chdir(tmp_path)
    opts = ["--hidden", 16, "--epochs", 2, "--sample-every", 70, "--sample-length", 30,
            "--checkpoint-every", 90]
    run("train", small_text, "-o", "full.h5", *opts, "-q")
    on_progress = fastrnn.cli.CheckpointingCallbacks.on_progress

    def interrupt(self, state, chars_per_sec):
        on_progress(self, state, chars_per_sec)
        if state.update >= 100 and self.signal is None:
            os.kill(os.getpid(), signal.SIGINT)

    with monkeypatch.context() as patch:
        patch.setattr(fastrnn.cli.CheckpointingCallbacks, "on_progress", interrupt)
        result = run("train", small_text, "-o", "run.h5", *opts, code=130)
    stopped = load_state("run.h5")
    assert 100 <= stopped.update < 2 * 239 and stopped.update % 90 != 0
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"SIGINT: stopped after update {stopped.update:,}; checkpoint "
                           "written to run.h5; continue with: fastrnn train ")
    command = shlex.split(last.split("continue with: ", 1)[1])
    assert command[:2] == ["fastrnn", "train"] and "--resume" in command
    run(*command[1:], "-q")
    assert_same_state(load_state("run.h5"), load_state("full.h5"))
    assert load_state("run.h5").epoch == 2


def test_resumed_run_reports_the_full_plan_and_nothing_when_already_done(small_text,
                                                                          tmp_path):
    out = tmp_path / "ck.h5"
    run("train", small_text, "-o", out, "--hidden", 8, "--max-updates", 50, "-q")
    before = out.read_bytes()
    result = run("train", small_text, "--resume", out)       # plan already complete
    assert "already finished its run: 50 updates" in result.output
    # the run has epochs left: only --max-updates stopped it, so only it is named
    assert "e.g. --max-updates " in result.output and "--epochs" not in result.output
    assert "done:" not in result.output and "chars/s" not in result.output
    assert load_state(str(out)).update == 50
    assert len(out.read_bytes()) == len(before)
    # a rate change on a finished run is not announced as if it applied from update 50
    result = run("train", small_text, "--resume", out, "--eta", 0.05)
    assert "already finished" in result.output and "->" not in result.output
    assert out.read_bytes() == before


# ---------------------------------------------------------------------- refuse to overwrite
def test_existing_checkpoint_is_replaced_only_with_overwrite_or_resume(small_text, tmp_path):
    out = tmp_path / "ck.h5"
    run("train", small_text, "-o", out, "--hidden", 8, "--max-updates", 30, "-q")
    before = out.read_bytes()
    msg = error_line(run("train", small_text, "-o", out, "--hidden", 8, "-q", code=1))
    assert msg == f"Error: {out} exists; pass --overwrite to replace it, or --resume {out}"
    assert out.read_bytes() == before
    # --resume into another existing file is refused too
    other = tmp_path / "other.h5"
    other.write_bytes(before)
    msg = error_line(run("train", small_text, "--resume", out, "-o", other, "-q", code=1))
    assert "other.h5 exists; pass --overwrite" in msg
    assert out.read_bytes() == before == other.read_bytes()
    run("train", small_text, "--resume", out, "--max-updates", 40, "-q")
    assert load_state(str(out)).update == 40
    run("train", small_text, "-o", out, "--hidden", 6, "--max-updates", 10, "--overwrite", "-q")
    state = load_state(str(out))
    assert state.update == 10 and state.hidden == 6


# -------------------------------------------------------------------------------- divergence
def test_huge_eta_stops_with_the_update_and_keeps_the_last_good_checkpoint(small_text,
                                                                           tmp_path):
    out = tmp_path / "ck.h5"
    result = run("train", small_text, "-o", out, "--hidden", 16, "--eta", 1e6,
                 "--max-updates", 2000, "--checkpoint-every", 50, "-q", code=1)
    msg = error_line(result)
    assert msg.startswith("Error: training diverged at update ")
    assert "try a smaller --eta (now 1e+06)" in msg
    update = int(msg.split("at update ", 1)[1].split(":")[0])
    assert 0 < update < 2000
    if os.path.exists(out):             # a checkpoint before the divergence was noticed
        kept = load_state(str(out))
        assert kept.update < update and kept.update % 50 == 0
        assert msg.endswith(f"the last good checkpoint is {out} (update {kept.update:,})")
    else:
        assert msg.endswith(f"no checkpoint of this run was written to {out}")


def test_nan_loss_names_the_update_and_leaves_the_checkpoint_untouched(small_text, tmp_path):
    """NaN in the parameters (as a blown-up update leaves them) makes the next loss NaN."""
    out = tmp_path / "ck.h5"
    run("train", small_text, "-o", out, "--hidden", 8, "--max-updates", 60, "-q")
    state = load_state(str(out))
    state.params["W"][3, 2] = np.nan
    save(state, str(out))
    before = out.read_bytes()
    msg = error_line(run("train", small_text, "--resume", out, "--max-updates", 100, "-q",
                         code=1))
    assert msg == ("Error: training diverged at update 60: the loss is not finite (NaN or "
                   f"inf); try a smaller --eta (now 0.1); the last good checkpoint is {out} "
                   "(update 60)")
    assert out.read_bytes() == before


def test_a_sustained_rise_above_3x_the_initial_loss_stops_training(small_text):
    corpus = read_corpus(small_text)
    state = train(new_state(corpus, TrainConfig(hidden=16, max_updates=50, sample_every=0)),
                  corpus)
    initial = state.loss_history[0]
    state.params["V"] *= 2000.0        # confidently wrong from now on: a finite, huge loss
    state.config.max_updates = 1000
    with pytest.raises(DivergenceError) as info:
        train(state, corpus)
    msg = str(info.value)
    assert msg.startswith(f"training diverged at update {info.value.update}: the smooth loss ")
    assert f"rose above 3x the initial loss {initial:.1f}; try a smaller --eta" in msg
    assert 50 < info.value.update <= 50 + train_module.PROGRESS_EVERY
    assert state.smooth_loss > 3 * initial


def test_a_short_first_chunk_does_not_make_the_guard_trip(tmp_path):
    """Per-record training: a 1-character first record (3 with its end-of-record symbols)
    makes a 2-character first chunk whose loss is ~2 ln K; full chunks then cost ~25 ln K.
    That is no divergence."""
    import json

    from fastrnn.data import builtin_text

    text = builtin_text()[:12000]
    records = [{"text": "a"}] + [{"text": text[i:i + 300]} for i in range(0, 12000, 300)]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    corpus = read_corpus(str(path), reset_per_record=True)
    cfg = TrainConfig(hidden=16, epochs=3, sample_every=0, reset_per_record=True)
    state = train(new_state(corpus, cfg), corpus)
    assert state.loss_history[0] < 10 < 3 * state.loss_history[0] < state.smooth_loss
    assert state.epoch == 3


def test_a_changed_eval_every_keeps_the_validations_made_on_the_old_schedule(tmp_path):
    """--eval-every 50 up to update 150, then --resume --eval-every 100: update 150's
    validation was on the old schedule and stays (it was dropped, judged by the new one);
    a finished run's off-schedule last validation is still dropped when the run goes on."""
    out = tmp_path / "ev.h5"
    common = ["--hidden", 8, "--val-frac", 0.05, "--sample-every", 0, "-q"]
    run("train", "builtin:python-docs", *common, "--eval-every", 50, "--max-updates", 150,
        "-o", out)
    result = run("train", "builtin:python-docs", "--resume", out, "--eval-every", 100,
                 "--max-updates", 300, "-q")
    assert "eval_every 50 -> 100 from update 150" in result.output
    state = load_state(str(out))
    assert [u for u, _ in state.val_history] == [50, 100, 150, 200, 300]
    assert state.changes == [(150, "eval_every", 50, 100)]
    assert "eval_every 50 -> 100 from update 150" in run("info", out).output
    run("report", out, "-o", tmp_path / "r", "-n", 10)
    assert "measured every 50 updates, from update 150 on every 100 updates" in \
        (tmp_path / "r" / "report.md").read_text()
    run("train", "builtin:python-docs", "--resume", out, "--max-updates", 350, "-q")
    assert [u for u, _ in load_state(str(out)).val_history] == [50, 100, 150, 200, 300, 350]
