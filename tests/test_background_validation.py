"""Validation runs on a snapshot on a second thread while training goes on; its numbers are
exactly those of a synchronous evaluation at the same update, recorded in order. A checkpoint
never waits for the validation of its own update (a run resumed from it evaluates that update
again) but does wait for an earlier update's, so a resumed history is an uninterrupted run's."""
from __future__ import annotations

import time

import numpy as np
import pytest

from fastrnn import TrainConfig, evaluate, load_state, new_state, nettrain, save, train
from fastrnn.data import builtin_text, read_corpus, split_validation
from fastrnn.evaluate import validation_loss
from fastrnn.train import Callbacks


class _Seen(Callbacks):
    def __init__(self):
        self.events = []

    def on_eval(self, update, val_loss):
        self.events.append(("eval", update))

    def on_checkpoint(self, state):
        self.events.append(("checkpoint", state.update, len(state.val_history)))


def test_background_validation_equals_a_synchronous_one(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(builtin_text()[:20000], encoding="utf-8")
    corpus, val = split_validation(read_corpus(str(path)), 0.1, 25)
    cfg = dict(hidden=16, sample_every=0, eval_every=50, checkpoint_every=100)
    seen = _Seen()
    state = train(new_state(corpus, TrainConfig(max_updates=200, **cfg)), corpus, seen, val=val)
    assert [u for u, _ in state.val_history] == [50, 100, 150, 200]
    # a checkpoint holds at least the validations before its update
    assert [e[:2] for e in seen.events if e[0] == "checkpoint"] == [("checkpoint", 100)]
    assert all(e[2] >= 1 for e in seen.events if e[0] == "checkpoint")
    assert [e[1] for e in seen.events if e[0] == "eval"] == [50, 100, 150, 200]
    step = new_state(corpus, TrainConfig(max_updates=0, **cfg))
    for u, v in state.val_history:
        step.config.max_updates = u
        train(step, corpus)
        expected = validation_loss(step.params, val, 25, False, step.hprev)
        assert v == expected, (u, v, expected)
    assert np.isfinite([v for _, v in state.val_history]).all()


class _Saving(Callbacks):
    def __init__(self, folder):
        self.folder, self.saved = folder, []

    def on_checkpoint(self, state):
        save(state, str(self.folder / f"ck{state.update}.h5"))
        self.saved.append((state.update, [u for u, _ in state.val_history]))


@pytest.fixture
def slow_validation(monkeypatch):
    """Held-out passes that take 0.3 s each, on both training loops."""
    real = evaluate.validation_loss
    real_net = nettrain.validation_loss

    def slow(*args):
        time.sleep(0.3)
        return real(*args)

    def slow_net(*args):
        time.sleep(0.3)
        return real_net(*args)

    monkeypatch.setattr(evaluate, "validation_loss", slow)
    monkeypatch.setattr(nettrain, "validation_loss", slow_net)


def _run_with_checkpoints(tmp_path, cell, **plan):
    """A small run of `cell` (the DD2424 loop for rnn, the general one for lstm) with
    validation, each checkpoint saved as ck<update>.h5: (corpus, val, final state, _Saving)."""
    path = tmp_path / "t.txt"
    path.write_text(builtin_text()[:20000], encoding="utf-8")
    corpus, val = split_validation(read_corpus(str(path)), 0.1, 25)
    cfg = TrainConfig(hidden=8, sample_every=0, cell=cell,
                      optimizer="adagrad" if cell == "rnn" else "adam",
                      eta=0.1 if cell == "rnn" else 2e-3, **plan)
    cb = _Saving(tmp_path)
    return corpus, val, train(new_state(corpus, cfg), corpus, cb, val=val), cb


@pytest.mark.parametrize("cell", ["rnn", "lstm"])     # the DD2424 loop and the general one
def test_a_checkpoint_never_waits_for_its_validation_and_a_resume_makes_it_up(
        tmp_path, slow_validation, cell):
    """With a slow held-out pass, the checkpoint at update 100 is written while the validation
    of update 100 still runs (so it is not in the file); resuming from that file evaluates
    update 100 first and ends with exactly the history of the uninterrupted run."""
    corpus, val, full, cb = _run_with_checkpoints(tmp_path, cell, eval_every=50,
                                                  checkpoint_every=100, max_updates=250)
    assert [u for u, _ in full.val_history] == [50, 100, 150, 200, 250]
    assert (100, [50]) in cb.saved                    # written without waiting for update 100's
    resumed = train(load_state(str(tmp_path / "ck100.h5")), corpus, val=val)
    assert resumed.val_history == full.val_history


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_checkpoint_waits_for_an_earlier_updates_validation(tmp_path, slow_validation, cell):
    """eval_every 100, checkpoint_every 150: at the checkpoint of update 150 the validation of
    update 100 may still run. The file must hold it — a resumed run can only make up the
    validation of the checkpoint's own update — so the resumed history is the full one (it
    lost update 100's before)."""
    corpus, val, full, cb = _run_with_checkpoints(tmp_path, cell, eval_every=100,
                                                  checkpoint_every=150, max_updates=300)
    assert [u for u, _ in full.val_history] == [100, 200, 300]
    assert cb.saved == [(150, [100])]
    resumed = train(load_state(str(tmp_path / "ck150.h5")), corpus, val=val)
    assert resumed.val_history == full.val_history
