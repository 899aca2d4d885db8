"""Helpers of the resume/signal tests: compare two training states field by field, exactly."""
from __future__ import annotations

import numpy as np

from fastrnn.model import PARAM_NAMES

# everything a resumed run must reproduce; wall_time and interrupted legitimately differ
SCALARS = ("vocab", "corpus_name", "corpus_chars", "update", "epoch", "chunk", "next_x0",
           "best_x0", "best_update", "rng_state", "samples", "val_history")
FLOATS = ("smooth_loss", "best_smooth")
ARRAYS = ("hprev", "best_hprev")
# options that only plan a run (or how often it reports): a resume may change them
PLAN = ("epochs", "max_updates", "checkpoint_every", "sample_every", "sample_length",
        "eval_every")


def assert_same_state(got, want) -> None:
    """Bit-identical parameters, AdaGrad state, best model, position, RNG and histories."""
    for group in ("params", "mem", "best"):
        for k in PARAM_NAMES:
            a, b = getattr(got, group)[k], getattr(want, group)[k]
            assert a.dtype == b.dtype, (group, k)
            assert np.array_equal(a, b), f"{group}/{k} differs"
    for name in ARRAYS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    for name in SCALARS:
        assert getattr(got, name) == getattr(want, name), name
    for name in FLOATS:   # equal as floats, NaN included (smooth loss before any update)
        assert np.array_equal(getattr(got, name), getattr(want, name), equal_nan=True), name
    n = want.update
    assert np.array_equal(got.loss_history[:n], want.loss_history[:n]), "loss history"
    assert np.array_equal(got.smooth_history[:n], want.smooth_history[:n]), "smooth history"
    a, b = got.config.as_dict(), want.config.as_dict()
    for key in PLAN:
        a.pop(key), b.pop(key)
    assert a == b, "hyper-parameters"


def assert_same_net_state(a, b, upto: int) -> None:
    """Two states of the general engine (fastrnn.nettrain.NetState): bit-identical parameters,
    optimizer moments, best model, stream states, loss history and position."""
    np.testing.assert_array_equal(a.net.theta, b.net.theta)
    np.testing.assert_array_equal(a.net.moments, b.net.moments)
    np.testing.assert_array_equal(a.net.best, b.net.best)
    np.testing.assert_array_equal(a.run.h, b.run.h)
    np.testing.assert_array_equal(a.run.c, b.run.c)
    np.testing.assert_array_equal(a.loss_history[:upto], b.loss_history[:upto])
    assert (a.update, a.epoch, a.chunk, a.best_update) == (b.update, b.epoch, b.chunk,
                                                           b.best_update)
