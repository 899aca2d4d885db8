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


def _backprop_cut_after(steps):
    """The kernels' gradients, but back-propagated only `steps` steps from each output: the
    chunk run as windows (a subtle truncation bug)."""

    def cut(params, xs, ys, hprev):
        _, full, h_end = loss_and_grads(params, xs, ys, hprev)
        total = {k: np.zeros_like(v) for k, v in params.items()}
        for t in range(len(xs)):
            lo = max(0, t - steps + 1)
            hs = [hprev]
            for s in range(lo):          # the state entering the window, held constant
                hs.append(loss_and_grads(params, xs[s:s + 1], ys[s:s + 1], hs[-1])[2])
            _, g, _ = loss_and_grads(params, xs[lo:t + 1], ys[lo:t + 1], hs[-1])
            # only the last step's output: subtract the window's shorter sums
            if t > lo:
                _, g_prev, _ = loss_and_grads(params, xs[lo:t], ys[lo:t], hs[-1])
                g = {k: g[k] - g_prev[k] for k in g}
            for k in total:
                total[k] += g[k]
        return loss_and_grads(params, xs, ys, hprev)[0], total, h_end

    return cut


def test_random_state_and_larger_weights_catch_a_short_backprop():
    """Back-propagation cut to 6 steps passes the course's check (h0 = 0 and 0.01 weights: the
    gradient through W shrinks ~30x a step) but not --random-state --sig 0.1, which still
    passes the right gradients (`fastrnn gradcheck --random-state --sig 0.1`)."""
    corpus = read_corpus(None)
    ids, K = corpus.ids, len(corpus.vocab)
    course = GradcheckConfig(hidden=5)
    strong = GradcheckConfig(hidden=5, sig=0.1, random_state=True)
    right = max(r.max_error for r in gradcheck(ids, K, strong))
    missed = max(r.max_error for r in gradcheck(ids, K, course, grad_fn=_backprop_cut_after(6)))
    caught = max(r.max_error for r in gradcheck(ids, K, strong, grad_fn=_backprop_cut_after(6)))
    # the README quotes these (`pytest tests/test_gradcheck.py -k short_backprop -s`)
    print(f"\nright gradients, random state and sig 0.1: {right:.2e}; backprop cut to 6 "
          f"steps, course's check: {missed:.2e}; the same, random state and sig 0.1: "
          f"{caught:.2e}")
    assert right < 1e-6 and missed < 1e-6 and caught > 1e-4


def test_a_check_that_gives_nan_fails():
    """A step too small for the loss makes NaN rows: `nan > threshold` is False, and the
    command said "passed" and exited 0."""
    from .clitools import run

    result = run("gradcheck", "--step", "1e-30", "--cell", "lstm", "-m", 3, ok=False)
    assert result.exit_code == 1 and "FAILED" in result.output
    assert "passed" not in result.output and "RuntimeWarning" not in result.output


def test_a_failing_error_never_reads_as_the_threshold():
    from fastrnn.gradcheck import error_text

    assert error_text(1.0002e-6, 1e-6) == "1.0002e-06"
    assert error_text(3.5e-3, 1e-6) == "3.500e-03"


def test_the_course_models_options_are_refused_for_the_general_check():
    """--sig and --random-state set the course model's check; with --batch/--cell/--layers
    they would do nothing (--sig at its default value was taken silently)."""
    from .clitools import one_line_error, run

    for option in (["--sig", "0.01"], ["--sig", "0.1"], ["--random-state"]):
        msg = one_line_error(run("gradcheck", "--batch", 2, "-m", 3, *option, ok=False))
        assert option[0] in msg and "course model's" in msg
