"""Gradient check of the compiled network (any cell, layers, streams) by central differences.

Same method as fastrnn.gradcheck (docs/algorithm.md): float64 parameters, each element perturbed
by +-step, the numerical gradient (L(p+h) - L(p-h)) / 2h taken from the plain NumPy loss of
fastrnn.reference.network evaluated in extended precision (np.longdouble; see
fastrnn.gradcheck.numerical_grads for why), and the relative error
|g_a - g_n| / max(eps, |g_a| + |g_n|) summarised per parameter tensor, named per layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gradcheck import output_differences
from .network import Network
from .reference import network as refnet


@dataclass
class CheckRow:
    name: str           # e.g. "l1.W_x", "W_y"
    shape: tuple
    max_error: float
    mean_error: float


def numerical_grads(cell: str, params: dict, X, Y, h0, c0, step: float,
                    dtype=np.longdouble) -> dict:
    """Central differences of the reference loss for every element of every parameter."""
    work = {k: v.astype(dtype) for k, v in params.items()}
    h0, c0 = h0.astype(dtype), c0.astype(dtype)
    # The output layer's parameters do not change the hidden states: their differences come
    # from the top states of one unperturbed run, all elements at once (output_differences).
    top = refnet.top_states(cell, work, X, h0, c0)
    grads = output_differences(top, work["W_y"], work["b_y"], Y, step)

    def loss():
        return refnet.loss_only(cell, work, X, Y, h0, c0)

    for name, theta in work.items():
        if name in grads:
            continue
        g = np.zeros(theta.shape, np.float64)
        flat, gflat = theta.reshape(-1), g.reshape(-1)
        elements = range(flat.size)
        if name == "l1.W_x":
            # the input is one-hot: a row of the first layer's W_x whose character is not in X
            # is multiplied by 0 alone, so the loss cannot change and its difference quotient
            # is exactly 0 (g's initial value). Only the rows of X's characters are perturbed;
            # at K ~ 100 this is most of the work saved.
            cols = theta.shape[1]
            elements = (np.unique(X)[:, None] * cols + np.arange(cols)).reshape(-1)
        for i in elements:
            old = flat[i]
            flat[i] = old + dtype(step)
            plus, up = loss(), flat[i]
            flat[i] = old - dtype(step)
            minus, down = loss(), flat[i]
            flat[i] = old
            gflat[i] = (plus - minus) / (up - down)   # the step actually taken, after rounding
        grads[name] = g
    return grads


def relative_errors(analytic: np.ndarray, numeric: np.ndarray, eps: float) -> np.ndarray:
    return np.abs(analytic - numeric) / np.maximum(eps, np.abs(analytic) + np.abs(numeric))


def check_network(cell: str, vocab_size: int = 8, hidden: int = 5, layers: int = 2,
                  streams: int = 3, seq_length: int = 10, step: float = 1e-4, eps: float = 1e-6,
                  seed: int = 0, ids: np.ndarray | None = None) -> list[CheckRow]:
    """Check the kernels' gradients of a float64 network initialised with `seed`, on chunk 0 of
    the stream schedule of ids (default: random ids), from random states."""
    rng = np.random.default_rng(seed)
    net = Network(cell, vocab_size, hidden, layers, "float64")
    net.init(seed)
    if ids is None:
        ids = rng.integers(0, vocab_size, streams * (seq_length + 1)).astype(np.int32)
    strip = ids.size // streams
    X = np.stack([ids[s * strip: s * strip + seq_length] for s in range(streams)], axis=1)
    Y = np.stack([ids[s * strip + 1: s * strip + seq_length + 1] for s in range(streams)], axis=1)
    h0 = np.tanh(rng.standard_normal((layers, streams, hidden)))
    c0 = rng.standard_normal((layers, streams, hidden))
    if net.info.states == 1:
        c0 = np.zeros_like(c0)
    ws = net.workspace(seq_length, streams)
    net.loss_and_grads(X, Y, ws, net.hyper(), h0, c0, train=False)
    analytic = net.named(net.grad)
    params = {k: v.copy() for k, v in net.named().items()}
    numeric = numerical_grads(cell, params, X, Y, h0, c0, step)
    rows = []
    for name in net.layout.names():
        err = relative_errors(analytic[name], numeric[name], eps)
        rows.append(CheckRow(name, params[name].shape, float(err.max()), float(err.mean())))
    return rows


def format_table(rows: list[CheckRow], threshold: float) -> str:
    """One line per parameter tensor: shape, max and mean relative error, ok."""
    lines = [f"{'param':<10}{'shape':>12}{'max rel err':>14}{'mean rel err':>14}  ok", "-" * 54]
    for r in rows:
        ok = "yes" if r.max_error <= threshold else "NO"
        lines.append(f"{r.name:<10}{str(r.shape):>12}{r.max_error:>14.3e}{r.mean_error:>14.3e}  {ok}")
    return "\n".join(lines)
