"""Validation runs on a snapshot on a second thread while training goes on; its numbers are
exactly those of a synchronous evaluation at the same update, recorded in order, and in the
checkpoint before it is written."""
from __future__ import annotations

import numpy as np

from fastrnn import TrainConfig, new_state, train
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
    # every checkpoint came after the evaluations of its update and before
    assert ("checkpoint", 100, 2) in seen.events and ("checkpoint", 200, 4) not in seen.events
    assert [e[1] for e in seen.events if e[0] == "eval"] == [50, 100, 150, 200]
    step = new_state(corpus, TrainConfig(max_updates=0, **cfg))
    for u, v in state.val_history:
        step.config.max_updates = u
        train(step, corpus)
        expected = validation_loss(step.params, val, 25, False, step.hprev)
        assert v == expected, (u, v, expected)
    assert np.isfinite([v for _, v in state.val_history]).all()
