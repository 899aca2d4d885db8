"""NumPy's own BLAS (cblas_sgemm / cblas_dgemm), made callable from the compiled kernels.

Why: inside @njit, np.dot and Numba's BLAS binding call SciPy's OpenBLAS (through
scipy.linalg.cython_blas). NumPy's wheels ship their own OpenBLAS (scipy-openblas64), usually a
newer release, and on the team's machine that one runs the kernels' small products 1.2-2x
faster: a step's recurrent GEMM of a 16-stream group (16 x 100 by 100 x 400) in 18.0 us
against 35.9 us, batch 1's logits (25 x 100 by 100 x 65) in 5.6 against 8.5 us; large
products run alike. `python bench/profile_cells.py lstm 100 32` (or `lstm 100 1`) prints the
update's products through both libraries.

How: the library is found beside NumPy (numpy.libs/ on Linux and Windows wheels, numpy/.dylibs/
on macOS), loaded with ctypes (the process's copy: the same file NumPy loaded), and its
CBLAS gemm entries registered with LLVM under fixed names (SYMBOLS). Compiled code calls
those names, so cached machine code stays valid across processes; fastrnn.jit puts
`identity()` into every cache key, so a cache compiled against one BLAS is never loaded with
another. Only the ILP64 build NumPy ships (symbols `scipy_cblas_?gemm64_`, 64-bit integers)
is used: its integer width is then known, not guessed. Anything else (NumPy built against
Accelerate, MKL or a system BLAS) leaves `available()` False and the kernels call SciPy's BLAS
through Numba as before; FASTRNN_BLAS=scipy forces that.

threadpoolctl sees this library like any other (fastrnn.threads limits it to one thread).
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os

import numpy as np

# the names compiled code calls (registered with LLVM by _state)
SYMBOLS = {np.dtype(np.float32): "fastrnn_cblas_sgemm64", np.dtype(np.float64): "fastrnn_cblas_dgemm64"}
# CBLAS enum values (cblas.h)
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

_EXPORTS = {np.dtype(np.float32): "scipy_cblas_sgemm64_", np.dtype(np.float64): "scipy_cblas_dgemm64_"}


def _candidates() -> list[str]:
    """NumPy's bundled OpenBLAS files: numpy.libs/ (Linux, Windows) or numpy/.dylibs (macOS)."""
    here = os.path.dirname(os.path.abspath(np.__file__))
    out = []
    for folder in (os.path.join(os.path.dirname(here), "numpy.libs"), os.path.join(here, ".dylibs")):
        out += sorted(glob.glob(os.path.join(folder, "*scipy_openblas64_*")))
    return out


@functools.cache
def _state() -> dict:
    """Find and register NumPy's BLAS once per process: {'path': ...} or {} (not usable)."""
    if os.environ.get("FASTRNN_BLAS", "").lower() == "scipy":
        return {}
    from llvmlite import binding

    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            addresses = {dt: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                         for dt, name in _EXPORTS.items()}
        except (OSError, AttributeError):
            continue
        for dt, address in addresses.items():
            binding.add_symbol(SYMBOLS[dt], address)
        return {"path": path}
    return {}


def available() -> bool:
    """Whether the kernels' GEMMs call NumPy's BLAS (else SciPy's, through Numba)."""
    return bool(_state())


def identity() -> str:
    """Which BLAS the kernels are compiled against (part of every kernel's cache key)."""
    found = _state()
    return f"numpy-cblas64:{os.path.basename(found['path'])}" if found else "numba-scipy"
