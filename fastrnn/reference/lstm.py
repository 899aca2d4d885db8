"""Plain NumPy LSTM layer step (torch.nn.LSTM's formulation), one stream, one time step.

The oracle of fastrnn.cells.lstm: p holds one layer's W_x (n, 4m), W_h (m, 4m), b (4m,);
gates i, f, g, o stacked in that order; state = (h, c).
"""
from __future__ import annotations

import numpy as np

STATES = 2


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def step(p, x, state):
    """One step from state (h, c) with input x (n,): (new state (h', c'), cache)."""
    h, c = state
    m = h.size
    a = x @ p["W_x"] + h @ p["W_h"] + p["b"]
    i, f, g, o = sigmoid(a[:m]), sigmoid(a[m:2 * m]), np.tanh(a[2 * m:3 * m]), sigmoid(a[3 * m:])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return (h_new, c_new), (x, h, c, i, f, g, o, c_new)


def step_backward(p, cache, dstate, grads):
    """Given d(loss)/d(h', c') (dstate), accumulate into grads (W_x, W_h, b) and return
    (dx, d(loss)/d(h, c))."""
    x, h, c, i, f, g, o, c_new = cache
    dh, dc = dstate
    tc = np.tanh(c_new)
    do = dh * tc
    dc = dc + dh * o * (1 - tc * tc)
    di, df, dg = dc * g, dc * c, dc * i
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)])
    grads["W_x"] += np.outer(x, da)
    grads["W_h"] += np.outer(h, da)
    grads["b"] += da
    return p["W_x"] @ da, (p["W_h"] @ da, dc * f)
