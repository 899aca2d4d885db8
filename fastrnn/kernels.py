"""Numba kernels: forward/backward over a chunk, clip+AdaGrad, a block of training, sampling.

Rules (DESIGN.md): @njit functions only; inputs first, outputs last; nothing allocated in the
training path -- every array is preallocated by fastrnn.model.Workspace. A leading underscore
marks compiled internals; fastrnn.model validates shapes and dtypes once and then calls these.

Why the code looks the way it does:
- Over a chunk only W h_{t-1} (forward) and W^T da_t (backward) are sequential. The logits
  V h_t, the output gradient V^T do_t and the dV, dW accumulations are matrix-matrix products
  over all steps of the chunk at once, done by BLAS (np.dot with an out array).
- error_model="numpy" stops Numba from inserting division-by-zero checks that block SIMD.
- fastmath is config.FASTMATH (reassociation + FMA only), never 'nnan'/'ninf'.
- U (with its G, gradient and best copy) is passed transposed, (K, m): the column a character
  selects is then one contiguous row (strided, it cost ~18 us of a ~112 us update).
- Callers pass 64-byte aligned arrays (fastrnn.model.aligned_zeros); see there for why.
- tanh and the softmax exp use fastrnn.vecmath's branch-free loops (~2 ulp), which vectorise;
  libm's, one call per element, were a third of an update. Sampling and evaluation keep
  np.tanh/np.exp: they are not the hot path.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .config import FASTMATH
from .vecmath import _rsqrt, _vexp, _vtanh

_jit = njit(cache=True, error_model="numpy", fastmath=set(FASTMATH), nogil=True)
# Helpers called from one place are inlined at Numba's IR level: LLVM inlines them anyway, and
# compiling each on its own first cost ~0.1-0.3 s of cold start apiece. A helper called from
# several places (_adagrad_dense, 4 calls) stays a compiled function: inlined, it cost 1.5 s.
_jit_inline = njit(error_model="numpy", fastmath=set(FASTMATH), nogil=True, inline="always")


@_jit_inline
def _matvec_add(W, h, UT, x, b, out):
    """out = W h + U[:, x] + b, with U given transposed (UT[x] is U's column x). Four rows at a
    time: four independent vector reductions per pass over h amortise the horizontal sums
    (1.4x faster than one row at a time at m=100).
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
def _forward_backward(UT, W, V, b, c, ids, start, n, hprev,
                      H, P, DH, dA, bits, dUT, dW, dV, db, dc):
    """Loss of chunk X = ids[start:start+n], Y = ids[start+1:start+n+1] from hprev, and its
    gradients. H[0] = hprev, H[t+1] = h_t; H[n] is the new hidden state. P ends holding the
    output gradient (p_t - onehot(y_t)). U and its gradient are passed transposed, (K, m): a
    character's column of U is then a contiguous row, for the input term, the gradient and
    AdaGrad alike. dUT is only written in the rows of X (the others stay whatever they were:
    the AdaGrad step reads only those rows). bits is integer
    scratch of max(m, K) elements for the vectorised exp/tanh."""
    m = W.shape[0]
    K = V.shape[0]
    for i in range(m):
        H[0, i] = hprev[i]
    # forward: a_t = W h_{t-1} + U x_t + b ; h_t = tanh(a_t)   (sequential; DH[t] holds a_t)
    for t in range(n):
        _matvec_add(W, H[t], UT, ids[start + t], b, DH[t])
        _vtanh(DH[t], H[t + 1], bits[:m])
    Hs = H[1:n + 1]
    # logits of all steps at once: O = Hs V^T + c, then softmax rows in place
    Pn = P[:n]
    np.dot(Hs, V.T, Pn)
    loss = 0.0
    for t in range(n):
        y = ids[start + t + 1]
        row = Pn[t]
        mx = -np.inf
        for k in range(K):
            row[k] += c[k]
            mx = max(mx, row[k])
        for k in range(K):
            row[k] -= mx
        _vexp(row, bits[:K])
        tot = 0.0
        for k in range(K):
            tot += row[k]
        inv = 1.0 / tot
        for k in range(K):
            row[k] *= inv
        loss -= np.log(row[y])
        row[y] -= 1.0            # now do_t = p_t - onehot(y_t)
    # output-layer gradients for all steps at once
    np.dot(Pn.T, Hs, dV)
    for k in range(K):
        dc[k] = 0.0
    for t in range(n):
        for k in range(K):
            dc[k] += Pn[t, k]
    DHn = DH[:n]
    np.dot(Pn, V, DHn)           # V^T do_t for every t
    # backward through time: da_t = (1 - h_t^2) * (V^T do_t + W^T da_{t+1})   (sequential)
    for t in range(n - 1, -1, -1):
        ht, da = H[t + 1], dA[t]
        dh = DHn[t]
        for i in range(m):
            da[i] = dh[i] - ht[i] * ht[i] * dh[i]    # (1 - h^2) dh with no float64 literal
        if t > 0:
            _matvec_t_add(W, da, DHn[t - 1])
    dAn = dA[:n]
    np.dot(dAn.T, H[:n], dW)
    for i in range(m):
        db[i] = 0.0
    for t in range(n):
        for i in range(m):
            db[i] += dAn[t, i]
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
def _adagrad_dense(theta, G, g, eta, clip, eps, best, save):
    """theta -= eta * clip(g) / sqrt(G + eps) after G += clip(g)^2, over a whole array. With
    save, best first receives theta's pre-update values (the best-model snapshot rides on
    this pass instead of a separate copy over the same memory)."""
    th = theta.reshape(-1)
    gg = G.reshape(-1)
    gr = g.reshape(-1)
    if save:
        bb = best.reshape(-1)
        for i in range(th.size):
            d = min(max(gr[i], -clip), clip)
            gg[i] += d * d
            bb[i] = th[i]
            th[i] -= eta * d * _rsqrt(gg[i] + eps, gg)
    else:
        for i in range(th.size):
            d = min(max(gr[i], -clip), clip)
            gg[i] += d * d
            th[i] -= eta * d * _rsqrt(gg[i] + eps, gg)


@_jit_inline
def _adagrad_columns(UT, GUT, dUT, ids, start, n, mark, eta, clip, eps):
    """The AdaGrad step of U (transposed, like its G and gradient) over the columns of X only:
    every other column has zero gradient, for which AdaGrad changes nothing (G += 0,
    theta -= 0), so skipping them is exact."""
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
    """dst[...] = src for C-contiguous arrays; a flat loop is 2-3x faster than Numba's slice
    assignment, and the best model is copied on most updates early in training."""
    s = src.reshape(-1)
    d = dst.reshape(-1)
    for i in range(s.size):
        d[i] = s[i]


@_jit
def _train_block(UT, W, V, b, c, GUT, GW, GV, Gb, Gc,
                 ids, starts, lengths, resets, k0, k1, eta, clip, eps,
                 H, P, DH, dA, bits, mark, dUT, dW, dV, db, dc,
                 hprev, BUT, BW, BV, Bb, Bc, best_h, fstate, istate, loss_out, smooth_out):
    """Train on chunks k0..k1-1 of the epoch schedule, one AdaGrad update each.

    U, its G, gradient and best copy are transposed, (K, m), as in _forward_backward.
    fstate = [smooth_loss, best_smooth_loss]; istate = [update, best_update, best_x0].
    Per update u: loss_out[u], smooth_out[u]. When the smooth loss reaches a new minimum the
    pre-update parameters, the chunk's starting hidden state and first character become the
    best model. Returns the number of updates done; it stops early, before updating, at a
    non-finite loss (the caller reports divergence).
    """
    m = W.shape[0]
    for k in range(k0, k1):
        if resets[k]:
            for i in range(m):
                hprev[i] = 0.0
        start = starts[k]
        n = lengths[k]
        loss = _forward_backward(UT, W, V, b, c, ids, start, n, hprev,
                                 H, P, DH, dA, bits, dUT, dW, dV, db, dc)
        if not np.isfinite(loss):
            return k - k0
        u = istate[0]
        smooth = loss if u == 0 else 0.999 * fstate[0] + 0.001 * loss
        fstate[0] = smooth
        loss_out[u] = loss
        smooth_out[u] = smooth
        save = smooth < fstate[1]
        if save:
            fstate[1] = smooth
            istate[1] = u
            istate[2] = ids[start]
            _copy(UT, BUT)           # the AdaGrad passes below save W, V, b, c
            for i in range(m):
                best_h[i] = hprev[i]
        _adagrad_columns(UT, GUT, dUT, ids, start, n, mark, eta, clip, eps)
        # flat views: one compiled specialisation of _adagrad_dense instead of two (1-D, 2-D)
        _adagrad_dense(W.reshape(-1), GW.reshape(-1), dW.reshape(-1), eta, clip, eps,
                       BW.reshape(-1), save)
        _adagrad_dense(V.reshape(-1), GV.reshape(-1), dV.reshape(-1), eta, clip, eps,
                       BV.reshape(-1), save)
        _adagrad_dense(b, Gb, db, eta, clip, eps, Bb, save)
        _adagrad_dense(c, Gc, dc, eta, clip, eps, Bc, save)
        for i in range(m):
            hprev[i] = H[n, i]
        istate[0] = u + 1
    return k1 - k0


@_jit_inline
def _step_hidden(U, W, b, h, x, a):
    """h <- tanh(W h + U[:, x] + b), with a as scratch."""
    m = W.shape[0]
    for i in range(m):
        s = U[i, x] + b[i]
        for j in range(m):
            s += W[i, j] * h[j]
        a[i] = s
    for i in range(m):
        h[i] = np.tanh(a[i])


@_jit_inline
def _logits(V, c, h, p):
    """p = V h + c; returns argmax p (the first, like np.argmax) and max p."""
    K = V.shape[0]
    m = V.shape[1]
    best = 0
    mx = -np.inf
    for k in range(K):
        s = c[k]
        for j in range(m):
            s += V[k, j] * h[j]
        p[k] = s
        if s > mx:
            mx = s
            best = k
    return best, mx


@_jit_inline
def _softmax_t(p, mx, temperature):
    """p <- softmax(p / temperature) in place, given mx = max p."""
    tot = 0.0
    for k in range(p.size):
        p[k] = np.exp((p[k] - mx) / temperature)
        tot += p[k]
    for k in range(p.size):
        p[k] /= tot


@_jit
def _sample(U, W, V, b, c, x0, temperature, uniforms, h, a, p, out):
    """Draw len(out) characters: each next id from softmax((V h + c) / temperature), h carried
    in place. temperature 0 is argmax. uniforms[i] in [0, 1) decides draw i (inverse CDF), so
    the caller's RNG decides."""
    K = V.shape[0]
    x = x0
    for step in range(out.size):
        _step_hidden(U, W, b, h, x, a)
        best, mx = _logits(V, c, h, p)
        if temperature == 0.0:
            x = best
        else:
            _softmax_t(p, mx, temperature)
            r = uniforms[step]
            x = K - 1
            acc = 0.0
            for k in range(K):
                acc += p[k]
                if r < acc:
                    x = k
                    break
        out[step] = x


@_jit
def _sample_top_p(U, W, V, b, c, x0, temperature, top_p, uniforms, h, a, p, out):
    """_sample restricted to the smallest most-likely set of mass >= top_p (nucleus sampling,
    temperature > 0). A kernel of its own: np.argsort costs ~1.3 s of compile time, which
    training (always top_p = 1) need not pay."""
    K = V.shape[0]
    x = x0
    for step in range(out.size):
        _step_hidden(U, W, b, h, x, a)
        best, mx = _logits(V, c, h, p)
        _softmax_t(p, mx, temperature)
        r = uniforms[step]
        order = np.argsort(-p)
        mass = 0.0
        keep = K
        for r_ in range(K):
            mass += p[order[r_]]
            if mass >= top_p:
                keep = r_ + 1
                break
        r *= mass                # draw inside the kept mass
        x = order[keep - 1]
        acc = 0.0
        for r_ in range(keep):
            acc += p[order[r_]]
            if r < acc:
                x = order[r_]
                break
        out[step] = x


@_jit
def _sequence_loss(U, W, V, b, c, ids, resets, h, a, o, counts):
    """Sum of -log p(ids[t+1] | ids[..t]) over a text, forward only. h starts at 0 and is reset
    where resets[t+1] (a document starts at t+1: nothing predicts it). counts[0] += predictions."""
    K = V.shape[0]
    m = W.shape[0]
    for i in range(m):
        h[i] = 0.0
    total = 0.0
    for t in range(ids.size - 1):
        if resets[t + 1]:
            for i in range(m):
                h[i] = 0.0
            continue
        _step_hidden(U, W, b, h, ids[t], a)
        _, mx = _logits(V, c, h, o)
        tot = 0.0
        for k in range(K):
            tot += np.exp(o[k] - mx)
        total += mx + np.log(tot) - o[ids[t + 1]]
        counts[0] += 1
    return total
