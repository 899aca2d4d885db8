"""How many threads fastrnn's arithmetic runs on: the engine decides, not OpenBLAS.

The kernels call BLAS: NumPy's own OpenBLAS (fastrnn.blas), or SciPy's where NumPy has none
(np.dot inside @njit goes there).
Left alone, OpenBLAS starts one thread per core inside every product; when the other core is
busy (a second run, a test suite, a sweep) those threads wait on each other and a run became
3.7x slower. The products of one update are small (25 x m by m x K), so one BLAS thread is
also the fastest choice when the machine is idle. threadpoolctl sets the count on every BLAS
library loaded in the process, and can only reach a library once it is loaded: SciPy's is
therefore loaded first.
"""
from __future__ import annotations

import contextlib

BLAS_THREADS = 1   # BLAS threads per compute thread: the engine's parallelism is its own


def _load_kernel_blas() -> None:
    # the BLAS that Numba binds np.dot to (the kernels' fallback); imported here so that the
    # limit reaches it. Not worth skipping when the kernels use NumPy's: Numba imports it
    # anyway the first time it loads or compiles a kernel (numba.np.arraymath checks for BLAS)
    import scipy.linalg.cython_blas  # noqa: F401


_CONTROLLER = None


def _controller():
    """One threadpoolctl controller of the BLAS libraries loaded once SciPy's is: finding the
    libraries costs ~1.3 ms, setting a limit through a kept controller ~0.04 ms, so every
    training block can afford its own limit."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _load_kernel_blas()
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def engine_threads(blas: int = BLAS_THREADS):
    """Run the enclosed code with the BLAS libraries the kernels can reach (NumPy's, SciPy's)
    limited to `blas` threads, and restore the previous limits afterwards (the Python API must
    not change its caller's)."""
    with _controller().limit(limits=blas, user_api="blas"):
        yield


def pin_process(blas: int = BLAS_THREADS) -> None:
    """Limit BLAS for the rest of the process (the command line: one process, one job)."""
    from threadpoolctl import threadpool_limits

    _load_kernel_blas()
    threadpool_limits(limits=blas, user_api="blas")


def blas_thread_counts() -> list[int]:
    """The current thread count of every loaded BLAS library (for tests and `info`)."""
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
