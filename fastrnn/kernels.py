"""Numba kernels: forward/backward over a chunk, clip+AdaGrad, a block of training, sampling.

Rules: @njit functions only; inputs first, outputs last; nothing allocated in the training
path -- every array is preallocated by fastrnn.model. Arguments come grouped in the
NamedTuples of fastrnn.model (Params, Workspace, Schedule, Hyper, Trainee) and the COUNTERS
structured array, so a misplaced argument is a typing error. Naming says who may call what:
a name without a leading underscore is a cached entry point, called from Python (by
fastrnn.model, .train and .sample, after they validated shapes and dtypes); a leading
underscore marks an internal, inlined into those entry points and never called from Python
(an inline kernel called from Python is compiled again in every process, uncached).

Why the code looks the way it does:
- Over a chunk only W h_{t-1} (forward) and W^T da_t (backward) are sequential. The logits
  V h_t, the output gradient V^T do_t and the dV, dW accumulations are matrix-matrix products
  over all steps of the chunk at once, done by BLAS (cells.common.gemm: NumPy's OpenBLAS,
  whose 25-row products run faster than those of SciPy's, which np.dot would call).
- error_model="numpy" stops Numba from inserting division-by-zero checks that block SIMD.
- fastmath is config.FASTMATH (reassociation + FMA only), never 'nnan'/'ninf'.
- U (with its G, gradient and best copy) is stored transposed, (K, m): the column a
  character selects is then one contiguous row; read strided, it was a sizeable part of an
  update.
- Arrays are 64-byte aligned (fastrnn.model.aligned_zeros; see there for why).
- tanh and the softmax exp use fastrnn.vecmath's branch-free loops (~2 ulp), which vectorise;
  libm's, one call per element, were a third of an update. Sampling and evaluation keep
  np.tanh/np.exp: they are not the hot path.
The algorithm itself is described in docs/algorithm.md.
"""
from __future__ import annotations

import numpy as np
from .draw import inverse_cdf as _inverse_cdf
from .draw import nucleus as _nucleus
from .draw import softmax_t as _softmax_t
from .cells.common import gemm as _gemm
from .jit import jit as _jit
from .jit import jit_inline as _jit_inline
from .vecmath import _rsqrt, _smallest_normal, _vexp, _vtanh

# _jit: cached, keyed by the hash of every kernel source (fastrnn.jit), so an edit of
# fastrnn.vecmath recompiles these too. Helpers called from one place are _jit_inline (inlined
# at Numba's IR level): LLVM inlines them anyway, and compiling each on its own first adds to
# the cold start. A helper called from several places (adagrad_dense, 4 calls) stays a
# compiled function: inlined, it would be compiled 4 times.


@_jit_inline
def _matvec_add(W, h, UT, x, b, out):
    """out = W h + U[:, x] + b, with U given transposed (UT[x] is U's column x). Four rows at a
    time: four independent vector reductions per pass over h amortise the horizontal sums.
    Accumulators start from an array element so float32 stays float32."""
    m = W.shape[0]
    i = 0
    while i + 4 <= m:
        w0, w1, w2, w3 = W[i], W[i + 1], W[i + 2], W[i + 3]
        u = UT[x]
        s0, s1 = u[i] + b[i], u[i + 1] + b[i + 1]
        s2, s3 = u[i + 2] + b[i + 2], u[i + 3] + b[i + 3]
        for j in range(h.size):
            hj = h[j]
            s0 += w0[j] * hj
            s1 += w1[j] * hj
            s2 += w2[j] * hj
            s3 += w3[j] * hj
        out[i], out[i + 1], out[i + 2], out[i + 3] = s0, s1, s2, s3
        i += 4
    while i < m:
        s = UT[x, i] + b[i]
        for j in range(h.size):
            s += W[i, j] * h[j]
        out[i] = s
        i += 1


@_jit_inline
def _exp_row(row, c, y):
    """row <- exp(row + c - max(row + c)) in place; returns (sum of the row, (row + c)[y] -
    the max). The loss of the row is then log(sum) - that second number: log-sum-exp, never
    -log(p), so it holds under a flush-to-zero FPU mode. One copy for training and eval."""
    K = row.size
    mx = -np.inf
    for j in range(K):
        row[j] += c[j]
        mx = max(mx, row[j])
    for j in range(K):
        row[j] -= mx
    o_y = row[y]
    _vexp(row)
    tot = 0.0
    for j in range(K):
        tot += row[j]
    return tot, o_y


@_jit_inline
def _matvec_t_add(W, d, out):
    """out += W^T d, as row-axpys four rows at a time (no horizontal sums, a quarter of the
    loads and stores of out)."""
    m = W.shape[0]
    i = 0
    while i + 4 <= m:
        d0, d1, d2, d3 = d[i], d[i + 1], d[i + 2], d[i + 3]
        w0, w1, w2, w3 = W[i], W[i + 1], W[i + 2], W[i + 3]
        for j in range(out.size):
            out[j] += w0[j] * d0 + w1[j] * d1 + w2[j] * d2 + w3[j] * d3
        i += 4
    while i < m:
        d0 = d[i]
        for j in range(out.size):
            out[j] += W[i, j] * d0
        i += 1


@_jit_inline
def _forward_backward(p, ws, sched, k, hprev):
    """Loss of chunk k of the schedule (X = ids[start:start+n], Y = ids[start+1:start+n+1])
    from hprev, and its gradients into ws.grads. ws.H[0] = hprev, ws.H[t+1] = h_t; ws.H[n] is
    the new hidden state. ws.P ends holding the output gradient (p_t - onehot(y_t)). The
    gradient of U (stored transposed) is only written in the rows of X (the others stay
    whatever they were: the AdaGrad step reads only those rows)."""
    UT, W, V, b, c = p.U, p.W, p.V, p.b, p.c
    g = ws.grads
    H, P, DH, dA = ws.H, ws.P, ws.DH, ws.dA
    ids = sched.ids
    start, n = sched.starts[k], sched.lengths[k]
    m = W.shape[0]
    K = V.shape[0]
    for i in range(m):
        H[0, i] = hprev[i]
    # forward: a_t = W h_{t-1} + U x_t + b ; h_t = tanh(a_t)   (sequential; DH[t] holds a_t)
    for t in range(n):
        _matvec_add(W, H[t], UT, ids[start + t], b, DH[t])
        _vtanh(DH[t], H[t + 1])
    Hs = H[1:n + 1]
    # logits of all steps at once: O = Hs V^T + c, then softmax rows in place
    Pn = P[:n]
    _gemm(Hs, V.T, Pn)
    loss = 0.0
    for t in range(n):
        y = ids[start + t + 1]
        row = Pn[t]
        tot, o_y = _exp_row(row, c, y)
        inv = 1.0 / tot
        # Probabilities below the smallest normal number are flushed to exactly 0: in float32
        # a rare character's p reaches ~1e-39, and every product downstream (the output
        # gradients, V^T do) then runs on denormals, ~100x slower per operation. The loss is
        # the log-sum-exp, never -log(p): under a flush-to-zero FPU mode p_y may read 0.
        tiny = _smallest_normal(row)
        for j in range(K):
            pj = row[j] * inv
            row[j] = pj if pj >= tiny else 0.0
        loss += np.log(tot) - o_y
        row[y] -= 1.0            # now do_t = p_t - onehot(y_t)
    # output-layer gradients for all steps at once
    _gemm(Pn.T, Hs, g.V)
    dc = g.c
    for j in range(K):
        dc[j] = 0.0
    for t in range(n):
        for j in range(K):
            dc[j] += Pn[t, j]
    DHn = DH[:n]
    _gemm(Pn, V, DHn)           # V^T do_t for every t
    # backward through time: da_t = (1 - h_t^2) * (V^T do_t + W^T da_{t+1})   (sequential)
    for t in range(n - 1, -1, -1):
        ht, da = H[t + 1], dA[t]
        dh = DHn[t]
        for i in range(m):
            da[i] = dh[i] - ht[i] * ht[i] * dh[i]    # (1 - h^2) dh with no float64 literal
        if t > 0:
            _matvec_t_add(W, da, DHn[t - 1])
    dAn = dA[:n]
    _gemm(dAn.T, H[:n], g.W)
    db = g.b
    for i in range(m):
        db[i] = 0.0
    for t in range(n):
        for i in range(m):
            db[i] += dAn[t, i]
    dUT = g.U
    for t in range(n):
        du = dUT[ids[start + t]]
        for i in range(m):
            du[i] = 0.0
    for t in range(n):
        du, da = dUT[ids[start + t]], dAn[t]
        for i in range(m):
            du[i] += da[i]
    return loss


@_jit
def forward_backward(p, ws, sched, k, hprev):
    """Entry point of _forward_backward (for fastrnn.model.loss_and_grads)."""
    return _forward_backward(p, ws, sched, k, hprev)


@_jit
def adagrad_dense(theta, G, g, hyper, best, save):
    """theta -= eta * clip(g) / sqrt(G + eps) after G += clip(g)^2, over whole 1-d arrays. With
    save, best first receives theta's pre-update values (the best-model snapshot rides on
    this pass instead of a separate copy over the same memory)."""
    eta, clip, eps = hyper.eta, hyper.clip, hyper.eps
    if save:
        for i in range(theta.size):
            d = min(max(g[i], -clip), clip)
            G[i] += d * d
            best[i] = theta[i]
            theta[i] -= eta * d * _rsqrt(G[i] + eps, G)
    else:
        for i in range(theta.size):
            d = min(max(g[i], -clip), clip)
            G[i] += d * d
            theta[i] -= eta * d * _rsqrt(G[i] + eps, G)


@_jit_inline
def _adagrad_columns(UT, GUT, dUT, ids, start, n, mark, hyper):
    """The AdaGrad step of U (transposed, like its G and gradient) over the columns of X only:
    every other column has zero gradient, for which AdaGrad changes nothing (G += 0,
    theta -= 0), so skipping them is exact."""
    eta, clip, eps = hyper.eta, hyper.clip, hyper.eps
    m = UT.shape[1]
    for t in range(n):
        mark[ids[start + t]] = True
    for t in range(n):
        x = ids[start + t]
        if mark[x]:
            mark[x] = False
            u, gu, du = UT[x], GUT[x], dUT[x]
            for i in range(m):
                d = min(max(du[i], -clip), clip)
                gu[i] += d * d
                u[i] -= eta * d * _rsqrt(gu[i] + eps, gu)


@_jit_inline
def _copy(src, dst):
    """dst[...] = src for C-contiguous arrays; a flat loop is faster than Numba's slice
    assignment, and the best model is copied on most updates early in training."""
    s = src.reshape(-1)
    d = dst.reshape(-1)
    for i in range(s.size):
        d[i] = s[i]


@_jit
def train_block(t, run, ws, sched, hyper, stop):
    """Train on chunks run[0].chunk .. stop-1 of the schedule, one AdaGrad update each.

    t is a fastrnn.model.Trainee, run the one-element COUNTERS array. Per update u:
    t.loss[u], t.smooth[u]. When the smooth loss reaches a new minimum the pre-update
    parameters, the chunk's starting hidden state and first character become the best model.
    Returns the number of updates done; it stops early, before updating, at a non-finite loss
    (the caller reports divergence).
    """
    r = run[0]
    p, G, B, g = t.params, t.G, t.best, ws.grads
    hprev = t.hprev
    m = hprev.size
    k0 = r.chunk
    for k in range(k0, stop):
        if sched.resets[k]:
            for i in range(m):
                hprev[i] = 0.0
        start, n = sched.starts[k], sched.lengths[k]
        loss = _forward_backward(p, ws, sched, k, hprev)
        if not np.isfinite(loss):
            return k - k0
        u = r.update
        smooth = loss if u == 0 else 0.999 * r.smooth + 0.001 * loss
        r.smooth = smooth
        t.loss[u] = loss
        t.smooth[u] = smooth
        save = smooth < r.best_smooth
        if save:
            r.best_smooth = smooth
            r.best_update = u
            r.best_x0 = sched.ids[start]
            _copy(p.U, B.U)           # the AdaGrad passes below save W, V, b, c
            for i in range(m):
                t.best_hprev[i] = hprev[i]
        _adagrad_columns(p.U, G.U, g.U, sched.ids, start, n, ws.mark, hyper)
        # flat views: one compiled specialisation of adagrad_dense instead of two (1-D, 2-D)
        adagrad_dense(p.W.reshape(-1), G.W.reshape(-1), g.W.reshape(-1), hyper,
                      B.W.reshape(-1), save)
        adagrad_dense(p.V.reshape(-1), G.V.reshape(-1), g.V.reshape(-1), hyper,
                      B.V.reshape(-1), save)
        adagrad_dense(p.b, G.b, g.b, hyper, B.b, save)
        adagrad_dense(p.c, G.c, g.c, hyper, B.c, save)
        for i in range(m):
            hprev[i] = ws.H[n, i]
        r.update = u + 1
        r.chunk = k + 1
        r.chars += n
    return stop - k0


@_jit_inline
def _step_hidden(p, h, x, a):
    """h <- tanh(W h + U[:, x] + b), with a as scratch."""
    W, b = p.W, p.b
    u = p.U[x]                   # U's column x: a row of the stored transpose
    m = W.shape[0]
    for i in range(m):
        s = u[i] + b[i]
        for j in range(m):
            s += W[i, j] * h[j]
        a[i] = s
    for i in range(m):
        h[i] = np.tanh(a[i])


@_jit_inline
def _logits(p, h, o):
    """o = V h + c; returns argmax o (the first, like np.argmax) and max o."""
    V, c = p.V, p.c
    K = V.shape[0]
    m = V.shape[1]
    top = 0
    mx = -np.inf
    for k in range(K):
        s = c[k]
        for j in range(m):
            s += V[k, j] * h[j]
        o[k] = s
        if s > mx:
            mx = s
            top = k
    return top, mx


@_jit
def prime(p, h, ids):
    """Feed ids through the RNN: h <- step(h, x) for each x, in place."""
    a = np.empty_like(h)
    for t in range(ids.size):
        _step_hidden(p, h, ids[t], a)


@_jit
def sample(p, x0, temperature, uniforms, h, out):
    """Draw len(out) characters: each next id from softmax((V h + c) / temperature), h carried
    in place. temperature 0 is argmax. uniforms[i] in [0, 1) decides draw i (inverse CDF), so
    the caller's RNG decides."""
    a, prob = np.empty_like(h), np.empty_like(p.c)
    x = x0
    for step in range(out.size):
        _step_hidden(p, h, x, a)
        top, mx = _logits(p, h, prob)
        if temperature == 0.0:
            x = top
        else:
            _softmax_t(prob, mx, temperature)
            x = _inverse_cdf(prob, uniforms[step])
        out[step] = x


@_jit
def sample_top_p(p, x0, temperature, top_p, uniforms, h, out):
    """sample restricted to the smallest most-likely set of mass >= top_p (nucleus sampling,
    temperature > 0). A kernel of its own: np.argsort is slow to compile, which training
    (always top_p = 1) need not pay."""
    a, prob = np.empty_like(h), np.empty_like(p.c)
    x = x0
    for step in range(out.size):
        _step_hidden(p, h, x, a)
        _, mx = _logits(p, h, prob)
        _softmax_t(prob, mx, temperature)
        x = _nucleus(prob, uniforms[step], top_p)
        out[step] = x


@_jit
def sequence_loss(p, ids, resets):
    """(sum of -log p(ids[t+1] | ids[..t]), number of predictions) over a text, forward only.
    h starts at 0 and is reset where resets[t+1] (a document starts at t+1: nothing predicts
    it)."""
    h = np.zeros_like(p.b)
    a, o = np.empty_like(h), np.empty_like(p.c)
    K = o.size
    m = h.size
    total = 0.0
    count = 0
    for t in range(ids.size - 1):
        if resets[t + 1]:
            for i in range(m):
                h[i] = 0.0
            continue
        _step_hidden(p, h, ids[t], a)
        _, mx = _logits(p, h, o)
        tot = 0.0
        for k in range(K):
            tot += np.exp(o[k] - mx)
        total += mx + np.log(tot) - o[ids[t + 1]]
        count += 1
    return total, count
