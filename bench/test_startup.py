"""JIT compile time on an empty Numba cache, and start-up of a second process (warm cache).

Each is a fresh `python` process with NUMBA_CACHE_DIR pointing at a new temporary folder,
timing `import fastrnn` + compiling (or loading) every kernel for one dtype.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import QUICK, TIMINGS

PROGRAM = ("import time; t = time.perf_counter(); from fastrnn.train import warmup; "
           "warmup('{dtype}'); print(time.perf_counter() - t)")


def _start(cache_dir: str, dtype: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", PROGRAM.format(dtype=dtype)], env=env,
                         capture_output=True, text=True, check=True, timeout=300)
    return float(out.stdout.strip().splitlines()[-1])


# quick mode (CI) compiles one dtype from scratch: the same code path, half the time
@pytest.mark.parametrize("dtype", ["float64"] if QUICK else ["float64", "float32"])
def test_compile_then_warm_start(tmp_path, dtype):
    cold = _start(str(tmp_path), dtype)
    warm = _start(str(tmp_path), dtype)
    TIMINGS[f"JIT compile, empty cache ({dtype})"] = cold
    TIMINGS[f"second start, warm cache ({dtype})"] = warm
    assert warm < cold, "the on-disk cache is not used: a warm start is as slow as compiling"
