"""Where the time of one training update goes: each part of the kernel timed alone.

    python bench/profile_update.py [float64|float32] [m]

Runs each piece of an update (recurrent mat-vecs, tanh, softmax exp, the four BLAS products,
AdaGrad, the best-model copy) many times in a compiled loop on random data of the training
shapes (K=65, seq 25, aligned arrays as in training) and prints microseconds per update. The
pieces overlap a little in a real update, so their sum is close to, not equal to, the total.
Not a test: the README's per-part numbers come from here; throughput is `pytest bench/`.
"""
from __future__ import annotations

import sys
import time

import numpy as np
from numba import njit

from fastrnn import kernels as k
from fastrnn.cells.common import gemm
from fastrnn.model import Hyper, Params, Schedule, Workspace, aligned_copy
from fastrnn.vecmath import _vexp, _vtanh

_JIT = njit(error_model="numpy", fastmath={"reassoc", "contract"})
TAU = 25
STARTS = 9000 // TAU      # chunks cycled through by the timing loops


@_JIT
def _fwd_bwd(R, a):
    p, G, ws, sched, hyper, h = a
    loss = 0.0
    for r in range(R):
        loss += k._forward_backward(p, ws, sched, r % STARTS, h)
    return loss


@_JIT
def _matvec_forward(R, a):
    p, G, ws, sched, hyper, h = a
    for _ in range(R):
        for t in range(TAU):
            k._matvec_add(p.W, ws.H[t], p.U, sched.ids[t], p.b, ws.DH[t])


@_JIT
def _matvec_backward(R, a):
    p, G, ws, sched, hyper, h = a
    for _ in range(R):
        for t in range(TAU - 1, 0, -1):
            k._matvec_t_add(p.W, ws.dA[t], ws.DH[t - 1])


@_JIT
def _tanh(R, a):
    p, G, ws, sched, hyper, h = a
    for _ in range(R):
        for t in range(TAU):
            _vtanh(ws.DH[t], ws.H[t + 1])


@_JIT
def _softmax_exp(R, a):
    p, G, ws, sched, hyper, h = a
    P = ws.P
    for _ in range(R):
        for t in range(TAU):
            for j in range(P.shape[1]):
                P[t, j] = -0.01 * j          # keep the inputs in range: exp runs in place
            _vexp(P[t])


@_JIT
def _blas(R, a):
    p, G, ws, sched, hyper, h = a
    g = ws.grads
    for _ in range(R):
        gemm(ws.H[1:], p.V.T, ws.P)
        gemm(ws.P.T, ws.H[1:], g.V)
        gemm(ws.P, p.V, ws.DH)
        gemm(ws.dA.T, ws.H[:TAU], g.W)


@_JIT
def _adagrad(R, a):
    p, G, ws, sched, hyper, h = a
    g = ws.grads
    for r in range(R):
        k._adagrad_columns(p.U, G.U, g.U, sched.ids, sched.starts[r % STARTS], TAU, ws.mark,
                           hyper)
        k.adagrad_dense(p.W.reshape(-1), G.W.reshape(-1), g.W.reshape(-1), hyper,
                        p.W.reshape(-1), False)
        k.adagrad_dense(p.V.reshape(-1), G.V.reshape(-1), g.V.reshape(-1), hyper,
                        p.V.reshape(-1), False)


@_JIT
def _best_copy(R, a):
    p, G, ws, sched, hyper, h = a
    g = ws.grads
    for _ in range(R):
        k._copy(p.U, g.U)
        k._copy(p.W, g.W)
        k._copy(p.V, g.V)


def main(dtype: str = "float64", m: int = 100) -> None:
    K = 65
    rng = np.random.default_rng(0)
    rnd = lambda *shape, scale=0.1: aligned_copy(                         # noqa: E731
        (scale * rng.standard_normal(shape)).astype(dtype))
    p = Params(rnd(K, m, scale=0.01), rnd(m, m), rnd(K, m, scale=0.01),
               rnd(m, scale=0), rnd(K, scale=0))
    G = Params(*(aligned_copy(np.ones_like(v)) for v in p))
    ws = Workspace.allocate(K, m, TAU, dtype)
    ws.H[...] = rnd(TAU + 1, m)
    ws.dA[...] = rnd(TAU, m)
    ids = rng.integers(0, K, 10000).astype(np.int32)
    sched = Schedule(ids, np.arange(STARTS, dtype=np.int64) * TAU,
                     np.full(STARTS, TAU, np.int64), np.zeros(STARTS, np.bool_))
    # eta 0: AdaGrad does all its work but leaves the parameters as they are
    args = (p, G, ws, sched, Hyper.of(0.0, 5.0, 1e-8, dtype), np.zeros(m, dtype))
    R = max(20, int(4e7 / m ** 2))
    print(f"one update, {dtype}, m={m}, K={K}, seq {TAU}: microseconds")
    for name, f in [("forward+backward (all)", _fwd_bwd), ("  mat-vecs forward", _matvec_forward),
                    ("  mat-vecs backward", _matvec_backward), ("  tanh", _tanh),
                    ("  softmax exp", _softmax_exp), ("  4 BLAS products", _blas),
                    ("AdaGrad (U columns, W, V)", _adagrad), ("best-model copy if separate", _best_copy)]:
        f(2, args)
        best = min(_timed(f, R, args) for _ in range(3))
        print(f"{name:28s} {best / R * 1e6:8.2f}")


def _timed(f, R, args) -> float:
    t0 = time.perf_counter()
    f(R, args)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["float64"]), *(int(a) for a in sys.argv[2:3]))
