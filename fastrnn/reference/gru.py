"""Plain NumPy GRU layer step (torch.nn.GRU's formulation), one stream, one time step.

The oracle of fastrnn.cells.gru: p holds one layer's W_x (n, 3m), W_h (m, 3m), b (3m,) and
b_hn (m,); gates r, z, n stacked in that order; state = (h,).
"""
from __future__ import annotations

import numpy as np

STATES = 1


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def step(p, x, state):
    """One step from state (h,) with input x (n,): (new state (h',), cache)."""
    (h,) = state
    m = h.size
    ax = x @ p["W_x"] + p["b"]
    ah = h @ p["W_h"]
    r = sigmoid(ax[:m] + ah[:m])
    z = sigmoid(ax[m:2 * m] + ah[m:2 * m])
    hn = ah[2 * m:] + p["b_hn"]
    n = np.tanh(ax[2 * m:] + r * hn)
    h_new = (1 - z) * n + z * h
    return (h_new,), (x, h, r, z, n, hn)


def step_backward(p, cache, dstate, grads):
    """Given d(loss)/d(h',), accumulate into grads (W_x, W_h, b, b_hn); return (dx, (dh,))."""
    x, h, r, z, n, hn = cache
    (dh,) = dstate
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (h - n) * z * (1 - z)
    dr = dn * hn * r * (1 - r)
    dax = np.concatenate([dr, dz, dn])
    dah = np.concatenate([dr, dz, dn * r])
    grads["W_x"] += np.outer(x, dax)
    grads["W_h"] += np.outer(h, dah)
    grads["b"] += dax
    grads["b_hn"] += dn * r
    return p["W_x"] @ dax, (dh * z + p["W_h"] @ dah,)
