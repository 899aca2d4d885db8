"""The kernels' GEMM (fastrnn.cells.common.gemm) through NumPy's BLAS, and its fallback to SciPy's.

Every layout the kernels pass (C or the transpose of a C array, for both operands) and both
dtypes must give np.dot's product; the fallback (FASTRNN_BLAS=scipy, or no NumPy OpenBLAS) must
give it too, and must get its own cache entries (the BLAS is part of the cache key).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from fastrnn import blas, jit
from fastrnn.cells.common import gemm

PRODUCT = """
import numpy as np
from numba import njit
from fastrnn import blas
from fastrnn.cells.common import gemm

@njit
def product(a, b, out):
    gemm(a, b, out)

rng = np.random.default_rng(1)
a, b = rng.standard_normal((7, 5)), rng.standard_normal((3, 5)).T
out = np.empty((7, 3))
product(a, b, out)
print(blas.identity(), float(np.abs(out - a @ b).max()))
"""


@pytest.fixture(scope="module")
def call():
    from numba import njit

    @njit
    def product(a, b, out):
        gemm(a, b, out)

    return product


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("a_t,b_t", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_equals_numpy_for_every_layout(call, dtype, tol, a_t, b_t):
    rng = np.random.default_rng(0)
    M, K, N = 25, 13, 40
    a = rng.standard_normal((K, M) if a_t else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if b_t else (K, N)).astype(dtype)
    a, b = (a.T if a_t else a), (b.T if b_t else b)
    out = np.full((M, N), np.nan, dtype)
    call(a, b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), rtol=tol, atol=tol)


def test_numpys_blas_is_used_exactly_where_numpy_ships_it():
    # NumPy's wheels carry scipy-openblas64: an install that has the file must use it, one
    # without it (or FASTRNN_BLAS=scipy) must say it falls back to SciPy's
    wanted = bool(blas._candidates()) and os.environ.get("FASTRNN_BLAS", "").lower() != "scipy"
    assert blas.available() == wanted
    assert blas.identity().startswith("numpy-cblas64:" if wanted else "numba-scipy")


def test_the_scipy_fallback_gives_the_same_product_under_its_own_cache_key(tmp_path):
    env = dict(os.environ, FASTRNN_BLAS="scipy", NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", PRODUCT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    name, err = done.stdout.split()
    assert name == "numba-scipy" and float(err) < 1e-12
    if blas.available():                      # a cache made against NumPy's BLAS is not reused
        assert jit.SOURCE_HASH != _hash_in_subprocess(env)


def _hash_in_subprocess(env) -> str:
    done = subprocess.run([sys.executable, "-c", "from fastrnn import jit; print(jit.SOURCE_HASH)"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
