"""Plain NumPy vanilla tanh RNN layer step, one stream, one time step (the oracle of
fastrnn.cells.rnn): h' = tanh(x W_x + h W_h + b); state = (h,). With one layer this is
DD2424's a = W h + U x + b, h = tanh(a) with U = W_x.T, W = W_h.T (fastrnn.reference.rnn).
"""
from __future__ import annotations

import numpy as np

STATES = 1


def step(p, x, state):
    """One step from state (h,) with input x (n,): (new state (h',), cache)."""
    (h,) = state
    h_new = np.tanh(x @ p["W_x"] + h @ p["W_h"] + p["b"])
    return (h_new,), (x, h, h_new)


def step_backward(p, cache, dstate, grads):
    """Given d(loss)/d(h',), accumulate into grads (W_x, W_h, b); return (dx, (dh,))."""
    x, h, h_new = cache
    (dh,) = dstate
    da = (1 - h_new * h_new) * dh
    grads["W_x"] += np.outer(x, da)
    grads["W_h"] += np.outer(h, da)
    grads["b"] += da
    return p["W_x"] @ da, (p["W_h"] @ da,)
