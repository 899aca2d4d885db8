"""The Numba decorators every kernel module shares, so kernel modules never import one another
for them.

- `jit`: a compiled, cached entry point. cache=True stores the machine code beside the
  package (or in NUMBA_CACHE_DIR) so a second process starts without compiling.
  error_model="numpy" stops Numba from inserting division-by-zero checks that block SIMD.
  fastmath is config.FASTMATH (reassociation + FMA contraction only, never 'nnan'/'ninf':
  the divergence guard relies on NaN and inf propagating). nogil lets callers use threads.
- `jit_inline`: a small helper inlined at Numba's IR level into its caller (no separate
  compile of its own, which costs cold-start time).
- `jit_generic`: a body that takes compiled functions as arguments (the network kernels take
  the cell's forward/backward). Numba never caches a function whose arguments are
  dispatchers, so each cell module wraps it in `jit` entry points of its own, which are
  cached. It is inlined at IR level too: a dispatcher passed as a value to a compiled call is
  lowered as a process-specific address ("dynamic global"), which also forbids caching.
"""
from __future__ import annotations

from numba import njit

from .config import FASTMATH

_OPTIONS = {"error_model": "numpy", "fastmath": set(FASTMATH), "nogil": True}

jit = njit(cache=True, **_OPTIONS)
jit_inline = njit(inline="always", **_OPTIONS)
jit_generic = njit(inline="always", **_OPTIONS)
