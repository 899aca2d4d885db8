"""The analytic gradients against central differences, and proof that the check can fail.

One full check (the course's: m 5, a 25-character chunk of the built-in corpus); the tests
that break the gradient on purpose use a tiny model, K 12 and m 5 on 10 random characters
(on which the correct gradients pass with a margin), which shows the same failures at a
small fraction of the cost.
"""
from __future__ import annotations

import numpy as np

from fastrnn.config import GradcheckConfig
from fastrnn.data import read_corpus
from fastrnn.gradcheck import gradcheck
from fastrnn.model import loss_and_grads

TINY = GradcheckConfig(hidden=5, seq_length=10)
TINY_K = 12
TINY_IDS = np.random.default_rng(1).integers(0, TINY_K, TINY.seq_length + 1)


def test_gradcheck_passes_at_m5_on_the_builtin_corpus():
    corpus = read_corpus(None)
    rows = gradcheck(corpus.ids, len(corpus.vocab), GradcheckConfig(hidden=5))
    assert [r.name for r in rows] == ["b", "c", "U", "V", "W"]
    for r in rows:
        assert r.max_error < 1e-6, (r.name, r.max_error)
        assert 0 < r.mean_error <= r.max_error


def test_the_tiny_check_passes_with_the_right_gradients():
    rows = gradcheck(TINY_IDS, TINY_K, TINY)
    assert all(r.max_error < 1e-7 for r in rows), rows


def test_gradcheck_catches_a_wrong_gradient():
    """Drop the recurrent term W^T da from backprop (a classic bug): W, U and b fail, the
    output layer's c still passes."""

    def truncated_bptt(params, xs, ys, hprev):
        # gradients of each step taken alone: what you get if dh_next is forgotten
        total = {k: np.zeros_like(v) for k, v in params.items()}
        loss, h = 0.0, hprev
        for t in range(len(xs)):
            step_loss, g, hn = loss_and_grads(params, xs[t:t + 1], ys[t:t + 1], h)
            loss += step_loss
            for k in total:
                total[k] += g[k]
            h = hn
        return loss, total, h

    rows = {r.name: r for r in gradcheck(TINY_IDS, TINY_K, TINY, grad_fn=truncated_bptt)}
    assert rows["W"].max_error > 1e-3
    assert rows["U"].max_error > 1e-6
    assert rows["b"].max_error > 1e-6
    assert rows["c"].max_error < 1e-6     # the output layer is still right: the check is specific


def test_gradcheck_catches_a_scaled_gradient():
    """dV off by 1e-4 relative fails V, and only V."""

    def off_by_a_little(params, xs, ys, hprev):
        loss, g, h = loss_and_grads(params, xs, ys, hprev)
        g["V"] = g["V"] * 1.0001
        return loss, g, h

    rows = {r.name: r for r in gradcheck(TINY_IDS, TINY_K, TINY, grad_fn=off_by_a_little)}
    assert rows["V"].max_error > 1e-6
    assert all(r.max_error < 1e-6 for name, r in rows.items() if name != "V"), rows
