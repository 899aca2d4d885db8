"""Where the time of one update of the cells engine goes, and how its stream groups share cores.

    python bench/profile_cells.py [lstm|gru|rnn] [m] [B] [float32|float64]

Prints microseconds per update (seq 25, K=65, Adam, random text): the whole update
(Network.train_block), the chunk's loss and gradients, one layer's cell forward and backward,
the optimizer pass, and for B >= 2 one stream group alone against two groups running at once
on two threads (the kernels release the GIL) and the serial finish_update, and the GEMMs of
the update through the kernels' BLAS and through SciPy's (fastrnn.blas); at B = 1 also the
recurrent mat-vecs' read rate (at full size and on an L1-resident slice), the vectorised
tanh's and sigmoid's cost per value (and
sigmoid's former form's), and the optimizer pass's cost per parameter with and without its
sqrt and division, at the network's size and at a cache-resident one. BLAS is held at one
thread. The parts run in compiled loops (no Python call is timed). Not a test: throughput
against PyTorch is `pytest bench/test_cells.py`.
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np


def per_call(f, repeats: int) -> float:
    """Seconds per call of f after one warm-up call."""
    f()
    start = time.perf_counter()
    for _ in range(repeats):
        f()
    return (time.perf_counter() - start) / repeats


def compiled_loop(fn, nargs: int = 3):
    """A compiled loop(a0, .., a{nargs-1}, n) calling fn(a0, ..) n times (fn: a compiled
    function or np.dot), so that no Python call, and no unboxing of its arguments, is timed.
    Its source is generated for the arity: Numba cannot inline (gemm is inline="always") a
    call made with *args."""
    from numba import njit

    names = ", ".join(f"a{i}" for i in range(nargs))
    namespace = {"fn": fn}
    exec(f"def loop({names}, n):\n    for _ in range(n):\n        fn({names})\n", namespace)
    return njit(namespace["loop"])


def per_loop(f, args, repeats: int) -> float:
    """Seconds per iteration of a compiled loop f(*args, n), after a short warm-up call."""
    f(*args, 2)
    start = time.perf_counter()
    f(*args, repeats)
    return (time.perf_counter() - start) / repeats


def product_speeds(shapes, dtype, repeats=2000):
    """Print, per (M, K, N, a transposed[, b transposed]), the time of out = a @ b (a transposed
    operand is the transpose of a C array, as the kernels pass it) in a compiled loop through
    the kernels' gemm (NumPy's BLAS where fastrnn.blas finds it) and through np.dot inside
    @njit (SciPy's BLAS, Numba's binding): the two libraries side by side."""
    from fastrnn import blas
    from fastrnn.cells.common import gemm

    kernels_gemm, numba_dot = compiled_loop(gemm), compiled_loop(np.dot)
    rng = np.random.default_rng(0)
    for M, K, N, transposed, *b_t in shapes:
        b_transposed = bool(b_t and b_t[0])
        a = rng.standard_normal((K, M)).astype(dtype).T if transposed else \
            rng.standard_normal((M, K)).astype(dtype)
        b = rng.standard_normal((N, K)).astype(dtype).T if b_transposed else \
            rng.standard_normal((K, N)).astype(dtype)
        out = np.empty((M, N), dtype)
        us = [per_loop(f, (a, b, out), repeats) * 1e6 for f in (kernels_gemm, numba_dot)]
        flops = 2 * M * K * N
        print(f"  product {M}x{K}{'(T)' if transposed else ''} @ {K}x{N}"
              f"{'(T)' if b_transposed else ''}: kernels' gemm "
              f"({blas.identity()}) {us[0]:.1f} us, {flops / us[0] / 1e3:.1f} GFLOP/s; np.dot in "
              f"@njit (SciPy's BLAS) {us[1]:.1f} us, {flops / us[1] / 1e3:.1f} GFLOP/s")


def matvec_speeds(W, repeats=20000, steps=25):
    """Print the time of one step's recurrent mat-vecs at batch 1 (cells.common: h @ W_h
    forward, W_h @ d backward) and the rate at which they read W_h: both stream all of W_h,
    so their floor is the bandwidth of the cache W_h lives in (L2 for m=100)."""
    from fastrnn.cells.common import mat_vec, vec_mat

    forward, backward = compiled_loop(vec_mat), compiled_loop(mat_vec)
    m, G = W.shape
    x, d = np.ones(m, W.dtype), np.ones(G, W.dtype)
    out_f, out_b = np.empty(G, W.dtype), np.empty(m, W.dtype)
    for name, f, args in (("h @ W_h", forward, (x, W, out_f)), ("W_h @ d", backward, (W, d, out_b))):
        t = per_loop(f, args, repeats)
        print(f"  recurrent mat-vec {name} ({W.nbytes / 1024:.0f} KB): {t * 1e6:.2f} us, "
              f"{W.nbytes / t / 1e9:.0f} GB/s read"
              + (f", x {steps} steps = {steps * t * 1e6:.0f} us" if steps else ""))


def _adam_traffic():
    """A compiled pass with Adam's loads and stores (read theta, grad and both moments, write
    theta and the moments) and its multiply-adds but no sqrt or division: what the optimizer
    pass would cost with a free divider."""
    from numba import njit

    @njit(fastmath={"contract"}, error_model="numpy")
    def moves(theta, grad, moments):
        M, V = moments[0], moments[1]
        T = theta.dtype.type
        for i in range(theta.size):
            d = min(max(grad[i], T(-5.0)), T(5.0))
            M[i] += T(0.1) * (d - M[i])
            V[i] = V[i] * T(0.999) + T(0.001) * d * d
            theta[i] -= T(2e-3) * M[i] * (V[i] * T(1.1) + T(1e-8))

    return moves


def _sqrt_and_division():
    """out = a / (sqrt(b) c + eps): only Adam's sqrt and division (and one multiply-add), the
    part that shares one unit, for arrays that stay in L1."""
    from numba import njit

    @njit(fastmath={"contract"}, error_model="numpy")
    def sqrt_division(a, b, out):
        T = a.dtype.type
        for i in range(a.size):
            out[i] = a[i] / (np.sqrt(b[i]) * T(1.1) + T(1e-8))

    return sqrt_division


def _sigmoid_via_tanh():
    """out = 1/2 + 1/2 tanh(x/2): how the cells computed sigmoid before vecmath._sigmoid."""
    from numba import njit

    from fastrnn.vecmath import _tanh

    @njit(fastmath={"contract"}, error_model="numpy")
    def via_tanh(x, out):
        half = x.dtype.type(0.5)
        for i in range(x.size):
            out[i] = half + half * _tanh(half * x[i])

    return via_tanh


def dense_gradient(grad: np.ndarray) -> np.ndarray:
    """A gradient with no zeros, for timing the optimizer pass on its own: repeated thousands
    of times on a chunk's real gradient, whose zero rows (characters absent from the chunk)
    decay their moments into denormals, a pass measured ~25% slower than in training, where
    a character's absence is not that long."""
    return (np.random.default_rng(1).standard_normal(grad.size) * 0.01).astype(grad.dtype)


def elementwise_speeds(theta, grad, moments, repeats=2000):
    """Print the vectorised tanh's and sigmoid's cost per value (fastrnn.vecmath, as the
    LSTM's gates use them: 2m tanh and 3m sigmoid values a step; and sigmoid's former form)
    and the optimizer pass's cost per parameter, with and without its sqrt and division
    (_adam_traffic), over all the parameters and over the first 1,500 (its four arrays, 24 KB,
    stay in L1), and the sqrt and division alone: the same cost per parameter at both sizes,
    near that of the sqrt and division alone, says the pass is bound by them (they share one
    unit), not by memory."""
    from fastrnn import optim
    from fastrnn.vecmath import vsigmoid, vtanh

    x = np.random.default_rng(0).standard_normal(400).astype(theta.dtype)
    for name, fn in (("tanh", vtanh), ("sigmoid", vsigmoid),
                     ("sigmoid as 1/2 + 1/2 tanh(x/2), the cells' former form",
                      _sigmoid_via_tanh())):
        t = per_loop(compiled_loop(fn, 2), (x, np.empty_like(x)), 50 * repeats)
        print(f"  vectorised {name}: {t / x.size * 1e9:.2f} ns per value (400 values a call)")
    dt = theta.dtype.type
    adam_loop, moves_loop = compiled_loop(optim.adam, 11), compiled_loop(_adam_traffic())
    for n in (theta.size, min(theta.size, 1500)):
        th, g, mo = theta[:n].copy(), grad[:n].copy(), moments[:, :n].copy()
        adam_args = (th, g, mo, dt(2e-3), dt(5.0), dt(1e-8), dt(0.9), dt(0.999), 5, th.copy(),
                     False)
        reps = repeats * theta.size // n
        adam = per_loop(adam_loop, adam_args, reps)
        moves = per_loop(moves_loop, (th, g, mo), reps)
        print(f"  adam over {n:,} parameters: {adam / n * 1e9:.3f} ns per parameter; the same "
              f"pass without sqrt and division {moves / n * 1e9:.3f} ns ({moves * 1e6:.1f} us)")
    n = min(theta.size, 1500)
    a, b = grad[:n] + dt(1.0), moments[1, :n] + dt(1.0)
    alone = per_loop(compiled_loop(_sqrt_and_division()), (a, b, np.empty_like(a)),
                     repeats * theta.size // n)
    print(f"  sqrt and division alone, {n:,} values: {alone / n * 1e9:.3f} ns per value")


def main(cell="lstm", m=100, B=1, dtype="float32"):
    from fastrnn import optim
    from fastrnn.network import Network
    from fastrnn.threads import engine_threads

    T, K = 25, 65
    net = Network(cell, vocab_size=K, hidden=m, layers=1, dtype=dtype)
    net.init(seed=0)
    ws, hp, run = net.workspace(T, B), net.hyper("adam", eta=2e-3), net.new_run(B, 200)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, K, 1_000_000).astype(np.int32)
    X, Y = (rng.integers(0, K, (T, B)).astype(np.int32) for _ in range(2))
    P, G, mod = net.params, net.grads, net.cell_module
    dense = dense_gradient(net.grad)
    n = max(2, 200 // B)
    rows = {"update (train_block)": per_call(lambda: net.train_block(ids, run, ws, hp, n), 3) / n}
    with engine_threads():
        net.loss_and_grads(X, Y, ws, hp)              # stages X, Y and zero states in ws
        # the parts in compiled loops: a Python call would add its unboxing (~3 us) to each
        parts = {
            "loss and gradients of a chunk": (net.kernels.loss_and_grads,
                                              (P, G, ws, hp, 0, True)),
            "cell forward, one layer": (mod.forward, (P.W_h[0], P.b_hn[0], ws.A[0], ws.R[0],
                                                      ws.H[0], ws.C[0])),
            "cell backward, one layer": (mod.backward, (P.W_h[0], P.b_hn[0], ws.A[0], ws.R[0],
                                                        ws.H[0], ws.C[0], ws.dH, ws.dA, ws.dR,
                                                        G.W_h[0], G.b_hn[0], ws.dh, ws.dc)),
            "optimizer (adam)": (optim.adam, (net.theta, dense, net.moments, hp.eta,
                                              hp.clip, hp.eps, hp.beta1, hp.beta2, 5, net.best,
                                              False)),
        }
        repeats = max(20, 4000 // B)
        for name, (fn, args) in parts.items():
            rows[name] = per_loop(compiled_loop(fn, len(args)), args, repeats)
        if B == 1:
            # the weight gradient H^T dA of a chunk; the output layer's logits H W_y, its weight
            # gradient H^T dP and the gradient it passes down, dP W_y^T
            product_speeds([(m, T, net.info.gates * m, True), (T, m, K, False),
                            (m, T, K, True), (T, K, m, False, True)], net.dtype)
            matvec_speeds(P.W_h[0])
            # 16 of its rows (25 KB) stay in L1: what the same loops reach without L2
            matvec_speeds(np.ascontiguousarray(P.W_h[0][:16]), steps=0)
            elementwise_speeds(net.theta, dense, net.moments)
        if B >= 2:
            groups = net._groups[(T, B, False)]
            sched = net._schedule(ids, B, T, None)
            kern = net.kernels

            def group(g):
                return kern.stream_group(net.params, groups.views[g], groups.ws[g], hp, sched,
                                         run, groups.spans[g][0], 1.0 / B, groups.next_h,
                                         groups.next_c)

            rows["one stream group alone"] = per_call(lambda: group(0), 10)
            both = {}

            def loop(g):
                both[g] = per_call(lambda: group(g), 10)

            threads = [threading.Thread(target=loop, args=(g,)) for g in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rows["two stream groups at once (each)"] = max(both.values())
            G_cols = net.info.gates * m
            # the recurrent product of a group's rows and of all streams
            product_speeds([(r, m, G_cols, False) for r in sorted({groups.spans[0][1], B})],
                           net.dtype)
            rows["finish_update (serial part)"] = per_call(
                lambda: kern.finish_update(net.flat, groups.grads, hp, sched, run,
                                           groups.next_h, groups.next_c, 1.0, 0, 0), 20)
    print(f"{cell} m={m} B={B} {dtype}, seq {T}, K={K}, {net.theta.size:,} parameters")
    for name, seconds in rows.items():
        print(f"  {name:<36}{seconds * 1e6:>10.1f} us")
    print(f"  {'chars/s':<36}{T * B / rows['update (train_block)']:>10,.0f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(f(a) for f, a in zip((str, int, int, str), args)))
