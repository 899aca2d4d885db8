"""Plain NumPy vanilla RNN, written like Karpathy's min-char-rnn / the DD2424 assignment.

This is the test oracle and the benchmark baseline: obvious code, one time step at a time,
no tricks. The training path never imports it.
"""
from __future__ import annotations

import numpy as np

PARAM_NAMES = ("U", "W", "V", "b", "c")


def init_params(vocab_size: int, hidden: int, sig: float, seed: int, dtype="float64") -> dict:
    """U, W, V ~ N(0, sig^2), b = c = 0 -- the same draws as fastrnn.model.init_params."""
    rng = np.random.default_rng(seed)
    U = sig * rng.standard_normal((hidden, vocab_size))
    W = sig * rng.standard_normal((hidden, hidden))
    V = sig * rng.standard_normal((vocab_size, hidden))
    p = {"U": U, "W": W, "V": V, "b": np.zeros(hidden), "c": np.zeros(vocab_size)}
    return {k: v.astype(dtype) for k, v in p.items()}


def loss_and_grads(params: dict, xs, ys, hprev):
    """Forward and backward over one chunk: (loss, grads dict, last hidden state)."""
    U, W, V, b, c = (params[k] for k in PARAM_NAMES)
    K = V.shape[0]
    hs, ps = {-1: np.copy(hprev)}, {}
    loss = 0.0
    for t in range(len(xs)):
        x = np.zeros(K, dtype=U.dtype)
        x[xs[t]] = 1
        a = W @ hs[t - 1] + U @ x + b
        hs[t] = np.tanh(a)
        o = V @ hs[t] + c
        e = np.exp(o - np.max(o))
        ps[t] = e / np.sum(e)
        loss += -np.log(ps[t][ys[t]])
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dh_next = np.zeros_like(hprev)
    for t in reversed(range(len(xs))):
        do = np.copy(ps[t])
        do[ys[t]] -= 1
        grads["V"] += np.outer(do, hs[t])
        grads["c"] += do
        dh = V.T @ do + dh_next
        da = (1 - hs[t] * hs[t]) * dh
        grads["b"] += da
        grads["U"][:, xs[t]] += da
        grads["W"] += np.outer(da, hs[t - 1])
        dh_next = W.T @ da
    return float(loss), grads, hs[len(xs) - 1]


def hidden_states(params: dict, xs, hprev) -> list:
    """h_t after each character of xs, in the parameters' dtype."""
    U, W, b = params["U"], params["W"], params["b"]
    h, hs = hprev, []
    for x in xs:
        h = np.tanh(W @ h + U[:, x] + b)
        hs.append(h)
    return hs


def loss_only(params: dict, xs, ys, hprev):
    """The chunk loss alone (for numerical gradients)."""
    V, c = params["V"], params["c"]
    loss = V.dtype.type(0)
    for h, y in zip(hidden_states(params, xs, hprev), ys):
        o = V @ h + c
        m = np.max(o)
        loss += -(o[y] - m - np.log(np.sum(np.exp(o - m))))
    return loss   # in the parameters' dtype (extended precision for the gradient check)


def adagrad_update(params: dict, grads: dict, mem: dict, eta: float, clip: float, eps: float):
    """Clip every gradient element to [-clip, clip], then AdaGrad, in place."""
    for k in PARAM_NAMES:
        g = np.clip(grads[k], -clip, clip)
        mem[k] += g * g
        params[k] += -eta * g / np.sqrt(mem[k] + eps)


def train(ids, vocab_size: int, n_updates: int, hidden=100, seq_length=25, eta=0.1, sig=0.01,
          clip=5.0, eps=1e-8, seed=0, params=None):
    """min-char-rnn's loop (no sampling): returns (params, list of chunk losses)."""
    params = params or init_params(vocab_size, hidden, sig, seed)
    mem = {k: np.zeros_like(v) for k, v in params.items()}
    hprev = np.zeros(hidden, dtype=params["U"].dtype)
    e, losses = 0, []
    for _ in range(n_updates):
        if e + seq_length + 1 > len(ids):
            e, hprev = 0, np.zeros_like(hprev)
        xs, ys = ids[e:e + seq_length], ids[e + 1:e + seq_length + 1]
        loss, grads, hprev = loss_and_grads(params, xs, ys, hprev)
        adagrad_update(params, grads, mem, eta, clip, eps)
        losses.append(loss)
        e += seq_length
    return params, losses
