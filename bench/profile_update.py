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
from fastrnn.model import aligned_copy, aligned_zeros
from fastrnn.vecmath import _vexp, _vtanh

_JIT = njit(error_model="numpy", fastmath={"reassoc", "contract"})


@_JIT
def _fwd_bwd(R, a):
    UT, W, V, b, c, ids, H, P, DH, dA, bits, dUT, dW, dV, db, dc, GUT, GW, GV, mark, h, s = a
    loss = 0.0
    for r in range(R):
        loss += k._forward_backward(UT, W, V, b, c, ids, (r * 25) % 9000, 25, h,
                                    H, P, DH, dA, bits, dUT, dW, dV, db, dc)
    return loss


@_JIT
def _matvec_forward(R, a):
    UT, W, V, b, c, ids, H, P, DH, dA, bits, dUT, dW, dV, db, dc, GUT, GW, GV, mark, h, s = a
    for _ in range(R):
        for t in range(25):
            k._matvec_add(W, H[t], UT, ids[t], b, DH[t])


@_JIT
def _matvec_backward(R, a):
    UT, W, V, b, c, ids, H, P, DH, dA, bits, dUT, dW, dV, db, dc, GUT, GW, GV, mark, h, s = a
    for _ in range(R):
        for t in range(24, 0, -1):
            k._matvec_t_add(W, dA[t], DH[t - 1])


@_JIT
def _tanh(R, a):
    UT, W, V, b, c, ids, H, P, DH, dA, bits, dUT, dW, dV, db, dc, GUT, GW, GV, mark, h, s = a
    m = W.shape[0]
    for _ in range(R):
        for t in range(25):
            _vtanh(DH[t], H[t + 1], bits[:m])


@_JIT
def _softmax_exp(R, a):
    UT, W, V, b, c, ids, H, P, DH, dA, bits, dUT, dW, dV, db, dc, GUT, GW, GV, mark, h, s = a
    for _ in range(R):
        for t in range(25):
            for j in range(P.shape[1]):
                P[t, j] = -0.01 * j          # keep the inputs in range: exp runs in place
            _vexp(P[t], bits[:P.shape[1]])


@_JIT
def _blas(R, a):
    UT, W, V, b, c, ids, H, P, DH, dA, bits, dUT, dW, dV, db, dc, GUT, GW, GV, mark, h, s = a
    for _ in range(R):
        np.dot(H[1:], V.T, P)
        np.dot(P.T, H[1:], dV)
        np.dot(P, V, DH)
        np.dot(dA.T, H[:25], dW)


@_JIT
def _adagrad(R, a):
    UT, W, V, b, c, ids, H, P, DH, dA, bits, dUT, dW, dV, db, dc, GUT, GW, GV, mark, h, s = a
    eta, clip, eps = s[0], s[1], s[2]
    for r in range(R):
        k._adagrad_columns(UT, GUT, dUT, ids, (r * 25) % 9000, 25, mark, eta, clip, eps)
        k._adagrad_dense(W.reshape(-1), GW.reshape(-1), dW.reshape(-1), eta, clip, eps,
                         W.reshape(-1), False)
        k._adagrad_dense(V.reshape(-1), GV.reshape(-1), dV.reshape(-1), eta, clip, eps,
                         V.reshape(-1), False)


@_JIT
def _best_copy(R, a):
    UT, W, V, b, c, ids, H, P, DH, dA, bits, dUT, dW, dV, db, dc, GUT, GW, GV, mark, h, s = a
    for _ in range(R):
        k._copy(UT, dUT)
        k._copy(W, dW)
        k._copy(V, dV)


def main(dtype: str = "float64", m: int = 100) -> None:
    K, tau = 65, 25
    rng = np.random.default_rng(0)
    z = lambda *shape: aligned_zeros(shape, dtype)                        # noqa: E731
    rnd = lambda *shape, scale=0.1: aligned_copy(                         # noqa: E731
        (scale * rng.standard_normal(shape)).astype(dtype))
    W, UT, V = rnd(m, m), rnd(K, m, scale=0.01), rnd(K, m, scale=0.01)
    ints = np.int64 if dtype == "float64" else np.int32
    # eta 0: AdaGrad does all its work but leaves the parameters as they are
    scalars = np.array([0.0, 5.0, 1e-8], dtype)
    args = (UT, W, V, z(m), z(K), rng.integers(0, K, 10000).astype(np.int32),
            rnd(tau + 1, m), z(tau, K), z(tau, m), rnd(tau, m), np.zeros(max(m, K), ints),
            z(K, m), z(m, m), z(K, m), z(m), z(K), z(K, m) + 1, z(m, m) + 1, z(K, m) + 1,
            np.zeros(K, np.bool_), z(m), scalars)
    R = max(20, int(4e7 / m ** 2))
    print(f"one update, {dtype}, m={m}, K={K}, seq {tau}: microseconds")
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
