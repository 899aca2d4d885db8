"""Benchmark set-up: one thread everywhere, the corpus, and the summary table at the end.

Threads are pinned before NumPy, SciPy's BLAS or Numba are imported, so that the engine and
the NumPy baseline are compared on one core each. FASTRNN_BENCH_QUICK=1 runs every benchmark
with short timings (CI uses it so the suite cannot rot; its numbers are not meaningful).
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import pytest  # noqa: E402

QUICK = os.environ.get("FASTRNN_BENCH_QUICK", "") not in ("", "0")
SHARED_CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpora",
                             "tinyshakespeare.txt")

# filled by the benchmarks: (implementation, dtype, m) -> chars/s ; and named timings
RESULTS: dict = {}
TIMINGS: dict = {}
VOCAB_ROWS: dict = {}      # (K, dtype) -> chars/s at m=256 (bench/test_vocab_sizes.py)
# case -> (chunked, one-step, NumPy chars/s, largest relative difference) (test_eval_speed.py)
EVAL_ROWS: dict = {}


@pytest.fixture(scope="session")
def corpus():
    """tinyshakespeare when it is beside the clone (SHARED_CORPUS), else the built-in offline
    corpus (the table names the corpus used)."""
    from fastrnn.data import read_corpus

    return read_corpus(SHARED_CORPUS if os.path.exists(SHARED_CORPUS) else None)


def flops_per_char(m: int, K: int) -> int:
    """Multiply-adds x2 of the matrix products per character: forward W h and V h, backward
    dV, V^T do, W^T da and dW -- 3 products of m x m and 3 of K x m."""
    return 6 * m * m + 6 * K * m


def pytest_terminal_summary(terminalreporter):
    w = terminalreporter.write_line
    if VOCAB_ROWS:
        w("")
        w(f"m=256 by vocabulary size (one core{', QUICK mode: not meaningful' if QUICK else ''})")
        w(f"{'K':>5}{'float32 chars/s':>18}{'float64 chars/s':>18}{'f32 / f64':>11}")
        for K in sorted({k for k, _ in VOCAB_ROWS}):
            f32, f64 = VOCAB_ROWS.get((K, "float32")), VOCAB_ROWS.get((K, "float64"))
            ratio = f"{f32 / f64:.2f}" if f32 and f64 else "-"
            w(f"{K:>5}{f32 or 0:>18,.0f}{f64 or 0:>18,.0f}{ratio:>11}")
    if EVAL_ROWS:
        w("")
        w(f"scoring a text, general engine (float32, one core"
          f"{', QUICK mode: not meaningful' if QUICK else ''})")
        w(f"{'case':<20}{'chunked':>12}{'one step':>12}{'x':>7}{'NumPy':>10}{'rel diff':>11}")
        for case, (chunked, step, ref, diff) in EVAL_ROWS.items():
            w(f"{case:<20}{chunked:>12,.0f}{step:>12,.0f}{chunked / step:>7.1f}{ref:>10,.0f}"
              f"{diff:>11.1e}")
    if TIMINGS:
        w("")
        for name, value in TIMINGS.items():
            w(f"{name:<48}{value:>10.2f} s")
    if not RESULTS:
        return
    K = RESULTS.get("_K", 65)
    w("")
    w(f"fastrnn throughput (one core, seq 25, K={K}, corpus {RESULTS.get('_corpus')}"
      f"{', QUICK mode: not meaningful' if QUICK else ''})")
    w(f"{'implementation':<22}{'m':>5}{'chars/s':>12}{'x NumPy':>10}{'GFLOP/s':>10}")
    keys = sorted((k for k in RESULTS if not str(k).startswith("_")),
                  key=lambda k: (k[2], k[0] != "numpy", k[0], k[1]))
    for impl, dtype, m in keys:
        rate = RESULTS[(impl, dtype, m)]
        base = RESULTS.get(("numpy", "float64", m))
        ratio = f"{rate / base:.1f}" if base else "-"
        gflops = rate * flops_per_char(m, K) / 1e9
        w(f"{impl + ' ' + dtype:<22}{m:>5}{rate:>12,.0f}{ratio:>10}{gflops:>10.2f}")

