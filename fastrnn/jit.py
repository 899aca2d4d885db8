"""The Numba decorators every kernel module shares, and the cache key that keeps them fresh.

- `jit`: a compiled, cached function. cache=True stores the machine code beside the package
  (or in NUMBA_CACHE_DIR) so a second process starts without compiling.
  error_model="numpy" stops Numba from inserting division-by-zero checks that block SIMD.
  fastmath is config.FASTMATH (reassociation + FMA contraction only, never 'nnan'/'ninf':
  the divergence guard relies on NaN and inf propagating). nogil lets callers use threads
  (fastrnn.network runs stream groups on a thread pool).
- `jit_inline`: a tiny helper inlined at Numba's IR level into its caller. Use sparingly:
  IR-level inlining re-types and re-lowers the body at every call site, and inlining the
  network bodies into per-cell wrappers made a cold compile ~30 s per cell and entry point.
  An ordinary `jit` callee is compiled once, cached on its own, and LLVM may still inline it.

Why the cache key carries a hash of the kernel sources: Numba invalidates a cached function
only when the file that defines it changes, but a cached function embeds the machine code of
every compiled function it calls, from other files too (the cells, fastrnn.vecmath,
fastrnn.optim). Editing fastrnn/cells/lstm.py would otherwise leave network_kernels'
entries running the old LSTM. Every `jit` function's index key therefore includes the hash of
all of KERNEL_SOURCES: editing any of them recompiles everything (tests/test_cells_cache.py
checks that every module compiled through this file is listed). The key also names the BLAS
library the GEMMs call (fastrnn.blas.identity()).
"""
from __future__ import annotations

import hashlib
import os

from numba import njit
from numba.core.caching import FunctionCache

from .config import FASTMATH

OPTIONS = {"error_model": "numpy", "fastmath": set(FASTMATH), "nogil": True}

_HERE = os.path.dirname(os.path.abspath(__file__))
# every file whose compiled code can end up inside a `jit` function's cache entry
KERNEL_SOURCES = ("jit.py", "blas.py", "config.py", "vecmath.py", "optim.py", "streams.py", "kernels.py",
                  "evalkernels.py", "draw.py", "network_kernels.py", "cells/__init__.py", "cells/common.py",
                  "cells/rnn.py", "cells/lstm.py", "cells/gru.py")


def source_hash(paths=None) -> str:
    """sha256 over the contents of `paths` (default: KERNEL_SOURCES of this package) and the
    BLAS the kernels call (fastrnn.blas: code compiled against one must not load with another)."""
    from . import blas

    h = hashlib.sha256(blas.identity().encode())
    for path in paths or [os.path.join(_HERE, p) for p in KERNEL_SOURCES]:
        with open(path, "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()


SOURCE_HASH = source_hash()


class _SourceKeyedCache(FunctionCache):
    """Numba's per-function cache, with SOURCE_HASH in every index key (see the docstring)."""

    def _index_key(self, sig, codegen):
        return super()._index_key(sig, codegen) + (SOURCE_HASH,)


def jit(fn):
    """@njit(cache=True, **OPTIONS), keyed by the kernel sources' hash as well."""
    dispatcher = njit(cache=True, **OPTIONS)(fn)
    dispatcher._cache = _SourceKeyedCache(fn)
    return dispatcher


jit_inline = njit(inline="always", **OPTIONS)
