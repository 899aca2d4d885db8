"""Training throughput: the Numba engine (float64, float32) vs the pure-NumPy baseline.

Both train the same corpus with the same algorithm (the baseline is fastrnn.reference,
min-char-rnn style), and every timed round of either starts from the same initial state: the
seed-0 weights, zero AdaGrad state (each round gets a fresh copy, made outside the timing).
Warm-up (JIT and the first updates) is excluded: each benchmark times whole runs of N
updates after a warm-up run. Results are
chars/s (25 characters per update); the table at the end gives the ratio to NumPy measured
in this same run, and GFLOP/s of the matrix products.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fastrnn import reference
from fastrnn.config import TrainConfig
from fastrnn.train import new_state, train, warmup

from .conftest import QUICK, RESULTS

SIZES = (50, 100, 256, 512)
# updates per timed round: engine / baseline (the baseline is 10-30x slower)
ENGINE_UPDATES = {50: 6000, 100: 4000, 256: 800, 512: 200}
NUMPY_UPDATES = {50: 300, 100: 200, 256: 60, 512: 16}
ROUNDS = 3
FLOOR = 5.0      # a regression guard far below the measured ratio, not a target


def _scale(n: int) -> int:
    return max(2, n // 20) if QUICK else n


def _record(benchmark, corpus, key, updates):
    rate = 25 * updates / benchmark.stats.stats.median
    RESULTS[key] = rate
    RESULTS["_K"], RESULTS["_corpus"] = len(corpus.vocab), corpus.name
    benchmark.extra_info.update(chars_per_sec=rate, updates=updates, hidden=key[2],
                                dtype=key[1], implementation=key[0])


@pytest.mark.parametrize("m", SIZES)
def test_numpy_baseline(benchmark, corpus, m):
    K, n = len(corpus.vocab), _scale(NUMPY_UPDATES[m])
    init = reference.init_params(K, m, 0.01, 0)

    def fresh():            # reference.train updates its params in place: a copy per round
        return (corpus.ids, K, n), {"hidden": m, "params": {k: v.copy() for k, v in init.items()}}

    reference.train(corpus.ids, K, 2, hidden=m, params=fresh()[1]["params"])   # warm-up
    benchmark.group = f"m={m}"            # pytest-benchmark compares like with like
    benchmark.pedantic(reference.train, setup=fresh, rounds=ROUNDS)
    _record(benchmark, corpus, ("numpy", "float64", m), n)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("m", SIZES)
def test_fastrnn_engine(benchmark, corpus, m, dtype):
    warmup(dtype)                                                          # JIT excluded
    benchmark.group = f"m={m}"
    n = _scale(ENGINE_UPDATES[m])
    cfg = TrainConfig(hidden=m, dtype=dtype, epochs=1000, sample_every=0, checkpoint_every=0,
                      max_updates=n)
    train(new_state(corpus, replace(cfg, max_updates=200)), corpus)       # warm caches
    states = []

    def fresh():
        states.append(new_state(corpus, cfg))
        return (states[-1], corpus), {}

    benchmark.pedantic(train, setup=fresh, rounds=ROUNDS)
    assert all(s.update == n and np.isfinite(s.smooth_loss) for s in states)
    _record(benchmark, corpus, ("fastrnn", dtype, m), n)


def test_ratio_floor():
    """Fail on a gross regression: the float64 engine must stay >= FLOOR x NumPy at m=100."""
    engine, base = RESULTS.get(("fastrnn", "float64", 100)), RESULTS.get(("numpy", "float64", 100))
    if engine is None or base is None:
        # run alone (e.g. with -k) there is nothing measured to compare: not a pass, not a fail
        pytest.skip("needs the m=100 engine and baseline benchmarks of this same run")
    floor = FLOOR / 2 if QUICK else FLOOR       # quick rounds are short and noisier
    assert engine / base >= floor, f"fastrnn is only {engine / base:.1f}x NumPy (floor {floor})"
