"""Gradient check: the kernels' analytic gradients against central differences.

On a small float64 model (m 5 by default) and one chunk of a real text, every element of
b, c, U, V, W is perturbed by +-h; the numerical gradient (L(p+h) - L(p-h)) / 2h uses a plain
NumPy loss (fastrnn.reference's formula, batched over the perturbations; for the output layer
all perturbations at once, see output_differences), an independent code path. The error of an element is
|g_a - g_n| / max(eps, |g_a| + |g_n|); the table gives its max and mean per parameter.
"""
from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np

from .config import GradcheckConfig
from .reference import rnn as reference
from .model import init_params, loss_and_grads

CHECK_ORDER = ("b", "c", "U", "V", "W")


@dataclass
class GradcheckRow:
    name: str
    shape: tuple
    max_error: float
    mean_error: float


def numerical_grads(params: dict, xs, ys, hprev, step: float, dtype=np.longdouble) -> dict:
    """Central differences of the loss for every element of every parameter.

    The parameters are the float64 ones; the loss is evaluated in `dtype`. The default,
    extended precision, matters: a float64 loss of ~100 carries ~1e-14 of roundoff, which
    becomes ~1e-10 after dividing by 2h and swamps gradient elements below ~1e-4 (relative
    errors of 1e-6..1e-4 that say nothing about the gradient code). All 2n perturbed copies
    of one parameter go through the loss at once, as a batch: one pass over the chunk per
    parameter instead of 2n, which is what keeps the check quick in extended precision."""
    work = {k: v.astype(dtype)[None] for k, v in params.items()}    # a batch of one
    h0 = np.asarray(hprev).astype(dtype)
    # V and c (the output layer) do not change the hidden states: all their differences at
    # once from the states of one unperturbed pass (output_differences; a batch of 2 K m
    # perturbed models is 30,000 models' logits at K = 3,000, gigabytes in extended precision)
    states = np.array(reference.hidden_states({k: v[0] for k, v in work.items()}, xs, h0))
    out = output_differences(states[:, None], work["V"][0].T, work["c"][0],
                             np.asarray(ys)[:, None], step)
    grads = {"V": out["W_y"].T, "c": out["b_y"]}
    for name in CHECK_ORDER:
        if name in grads:
            continue
        theta = work[name][0]
        # The loss never reads the columns of U of characters not in xs: their differences
        # are exactly 0 without evaluating anything.
        active = np.ones(theta.shape, np.bool_)
        if name == "U":
            active[:, np.setdiff1d(np.arange(theta.shape[1]), xs)] = False
        i = np.flatnonzero(active)
        n = i.size
        batch = np.repeat(theta.reshape(1, -1), 2 * n, axis=0)     # row r: +h at i[r]; n+r: -h
        r = np.arange(n)
        batch[r, i] += dtype(step)
        batch[n + r, i] -= dtype(step)
        taken = batch[r, i] - batch[n + r, i]       # the step actually taken, after rounding
        loss = batched_loss({**work, name: batch.reshape((2 * n,) + theta.shape)}, xs, ys, h0)
        g = np.zeros(theta.size, np.float64)
        g[i] = (loss[:n] - loss[n:]) / taken
        grads[name] = g.reshape(theta.shape)
    return grads


def output_differences(top, W_y, b_y, Y, step: float) -> dict:
    """Central differences of the chunk loss for every element of W_y and b_y, from the top
    states `top` (T, B, m), in W_y's dtype (extended precision).

    Moving W_y[j, k] by d (or b_y[k] by d) changes logit k alone, by top[t, s, j] d (or d), so
    at each step the loss with that one element moved is the unperturbed max-shifted
    log-sum-exp with term k replaced: evaluated for all elements at once as arrays (m, K),
    not as 2 m K passes over the chunk (30,000 at m = 5, K = 3,000; `pytest
    bench/test_costs.py` times the check at that size). d is the step actually taken,
    after rounding, as in numerical_grads. The course's V and c are W_y.T and b_y here;
    tests compare this with one pass per element, element by element."""
    T, B = Y.shape
    K = W_y.shape[1]
    dtype = W_y.dtype.type
    moves = {"W_y": (W_y + dtype(step) - W_y, W_y - dtype(step) - W_y),
             "b_y": (b_y + dtype(step) - b_y, b_y - dtype(step) - b_y)}
    losses = {name: [np.zeros(up.shape, W_y.dtype) for _ in range(2)]
              for name, (up, _) in moves.items()}
    columns = np.arange(K)
    for s in range(B):
        for t in range(T):
            h, y = top[t, s], Y[t, s]
            o = h @ W_y + b_y
            mx = np.max(o)
            e = np.exp(o - mx)
            rest = np.sum(e) - e                  # the other terms of each column's sum
            for name, pair in moves.items():
                for side, d in enumerate(pair):
                    shift = h[:, None] * d if name == "W_y" else d      # (m, K) or (K,)
                    moved = o + shift
                    target = np.where(columns == y, moved, o[y])
                    losses[name][side] += np.log(rest + np.exp(moved - mx)) + mx - target
    return {name: ((losses[name][0] - losses[name][1]) / B / (up - down)).astype(np.float64)
            for name, (up, down) in moves.items()}


def batched_loss(params: dict, xs, ys, hprev) -> np.ndarray:
    """fastrnn.reference's loss of one chunk for a batch of models: each parameter has a
    leading batch axis of size B or 1 (shared); returns the B losses."""
    U, W, V, b, c = (params[k] for k in ("U", "W", "V", "b", "c"))
    B = max(v.shape[0] for v in params.values())
    h = np.broadcast_to(hprev, (B, hprev.size))
    loss = np.zeros(B, h.dtype)
    for x, y in zip(xs, ys):
        h = np.tanh((W @ h[..., None])[..., 0] + U[:, :, x] + b)
        o = (V @ h[..., None])[..., 0] + c
        mx = o.max(axis=1)
        loss += mx + np.log(np.exp(o - mx[:, None]).sum(axis=1)) - o[:, y]
    return loss


def relative_errors(analytic: np.ndarray, numeric: np.ndarray, eps: float) -> np.ndarray:
    return np.abs(analytic - numeric) / np.maximum(eps, np.abs(analytic) + np.abs(numeric))


def gradcheck(ids: np.ndarray, vocab_size: int, cfg: GradcheckConfig = GradcheckConfig(),
              grad_fn=loss_and_grads, numeric_dtype=np.longdouble) -> list[GradcheckRow]:
    """Check grad_fn (default: the kernels) on chunk ids[0:tau] -> ids[1:tau+1], from hprev = 0
    (the course's check) or, with cfg.random_state, tanh of N(0, 1) draws (seeded by seed)."""
    tau = cfg.seq_length
    xs, ys = ids[:tau], ids[1:tau + 1]
    params = init_params(vocab_size, cfg.hidden, cfg.sig, cfg.seed, "float64")
    hprev = (np.tanh(np.random.default_rng([cfg.seed, 1]).standard_normal(cfg.hidden))
             if cfg.random_state else np.zeros(cfg.hidden))
    _, analytic, _ = grad_fn(params, xs, ys, hprev)
    numeric = numerical_grads(params, xs, ys, hprev, cfg.step, numeric_dtype)
    rows = []
    for name in CHECK_ORDER:
        err = relative_errors(analytic[name], numeric[name], cfg.eps)
        rows.append(GradcheckRow(name, params[name].shape, float(err.max()), float(err.mean())))
    return rows


def worst_row(rows: list[GradcheckRow]) -> GradcheckRow:
    """The row with the largest maximum error; NaN (a step so small, or so large, that the
    differences are not numbers) counts as the largest."""
    return max(rows, key=lambda r: math.inf if math.isnan(r.max_error) else r.max_error)


def row_passes(row: GradcheckRow, threshold: float) -> bool:
    return row.max_error <= threshold         # False for NaN


def error_text(error: float, threshold: float) -> str:
    """The error as `%.3e`, or with as many more digits as it takes not to read as equal to
    the threshold it fails ("1.000e-06 exceeds 1e-06")."""
    for digits in range(3, 17):
        text = f"{error:.{digits}e}"
        if float(text) != threshold or error == threshold:
            return text
    return repr(error)


def format_table(rows: list[GradcheckRow], threshold: float) -> str:
    """The per-parameter table, as the course reports show it."""
    lines = [f"{'param':<6}{'shape':>12}{'max rel err':>14}{'mean rel err':>14}  ok",
             "-" * 50]
    for r in rows:
        ok = "yes" if row_passes(r, threshold) else "NO"
        lines.append(f"{r.name:<6}{str(r.shape):>12}{r.max_error:>14.3e}{r.mean_error:>14.3e}  {ok}")
    return "\n".join(lines)
