"""Gradient check: the kernels' analytic gradients against central differences.

On a small float64 model (m 5 by default) and one chunk of a real text, every element of
b, c, U, V, W is perturbed by +-h; the numerical gradient (L(p+h) - L(p-h)) / 2h uses the
plain NumPy loss of fastrnn.reference, an independent code path. The error of an element is
|g_a - g_n| / max(eps, |g_a| + |g_n|); the table gives its max and mean per parameter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import reference
from .config import GradcheckConfig
from .model import init_params, loss_and_grads

CHECK_ORDER = ("b", "c", "U", "V", "W")


@dataclass
class GradcheckRow:
    name: str
    shape: tuple
    max_error: float
    mean_error: float


def numerical_grads(params: dict, xs, ys, hprev, step: float, dtype=np.longdouble) -> dict:
    """Central differences of the reference loss for every element of every parameter.

    The parameters are the float64 ones; the loss is evaluated in `dtype`. The default,
    extended precision, matters: a float64 loss of ~100 carries ~1e-14 of roundoff, which
    becomes ~1e-10 after dividing by 2h and swamps gradient elements below ~1e-4 (relative
    errors of 1e-6..1e-4 that say nothing about the gradient code)."""
    work = {k: v.astype(dtype) for k, v in params.items()}
    h0 = np.asarray(hprev).astype(dtype)
    grads = {}
    for name in CHECK_ORDER:
        theta = work[name]
        g = np.zeros(theta.shape, np.float64)
        flat, gflat = theta.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + dtype(step)
            plus = reference.loss_only(work, xs, ys, h0)
            up = flat[i]
            flat[i] = old - dtype(step)
            minus = reference.loss_only(work, xs, ys, h0)
            down = flat[i]
            flat[i] = old
            gflat[i] = (plus - minus) / (up - down)   # the step actually taken, after rounding
        grads[name] = g
    return grads


def relative_errors(analytic: np.ndarray, numeric: np.ndarray, eps: float) -> np.ndarray:
    return np.abs(analytic - numeric) / np.maximum(eps, np.abs(analytic) + np.abs(numeric))


def gradcheck(ids: np.ndarray, vocab_size: int, cfg: GradcheckConfig = GradcheckConfig(),
              grad_fn=loss_and_grads, numeric_dtype=np.longdouble) -> list[GradcheckRow]:
    """Check grad_fn (default: the kernels) on chunk ids[0:tau] -> ids[1:tau+1], hprev = 0."""
    tau = cfg.seq_length
    xs, ys = ids[:tau], ids[1:tau + 1]
    params = init_params(vocab_size, cfg.hidden, cfg.sig, cfg.seed, "float64")
    hprev = np.zeros(cfg.hidden)
    _, analytic, _ = grad_fn(params, xs, ys, hprev)
    numeric = numerical_grads(params, xs, ys, hprev, cfg.step, numeric_dtype)
    rows = []
    for name in CHECK_ORDER:
        err = relative_errors(analytic[name], numeric[name], cfg.eps)
        rows.append(GradcheckRow(name, params[name].shape, float(err.max()), float(err.mean())))
    return rows


def format_table(rows: list[GradcheckRow], threshold: float) -> str:
    """The per-parameter table, as the course reports show it."""
    lines = [f"{'param':<6}{'shape':>12}{'max rel err':>14}{'mean rel err':>14}  ok",
             "-" * 50]
    for r in rows:
        ok = "yes" if r.max_error <= threshold else "NO"
        lines.append(f"{r.name:<6}{str(r.shape):>12}{r.max_error:>14.3e}{r.mean_error:>14.3e}  {ok}")
    return "\n".join(lines)
