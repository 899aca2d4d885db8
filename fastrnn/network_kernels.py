"""Compiled bodies of the network (cell x L layers + softmax output layer), and its entry points.

The bodies take the cell as their first argument, an integer constant (RNN, LSTM, GRU) that
Numba sees as a literal: cell_forward / cell_backward resolve it at compile time to the
cell's own cached forward / backward (fastrnn.cells.<name>), so each body is compiled once per
cell and dtype and only for the cells in use, and nothing is inlined at Numba's IR level (see
fastrnn.jit). The entry points at the end of this file fix the cell; fastrnn.network picks
them through ENTRIES[cell name]. Keeping every body and entry in this one file means an edit
here invalidates all of them (fastrnn.jit's source hash covers the files they call).

The NamedTuples below are what kernels receive instead of dozens of arrays; fastrnn.network
builds them (views into flat buffers, a preallocated workspace) and validates everything once.

Shapes (L layers, m hidden, K vocabulary, G = gates * m, T steps, B streams):
  Params  W_x1 (K, G)  layer 1's input weights: its input is one-hot, so its input product is
          the row W_x1[x] (a gather); W_xs (L-1, m, G) input weights of layers 2..L;
          W_h (L, m, G); b (L, G); b_hn (L, m or 0: GRU only); W_y (m, K), b_y (K,).
          Weights are stored for row-vector products, x (B, n) @ W (n, G).
  Workspace X, Y (T, B) int32; per layer A, R (L, T, B, G) (input projection, gate values:
          the cell decides), H, C (L, T+1, B, m; C has width 0 without a cell state; H[layer, 0]
          is the state the chunk starts from); dropout masks M and dropped outputs D
          (L, T, B, m, or empty without dropout); P (T, B, K) logits, then probabilities, then
          the output gradient; dA, dR, dH (T, B, G|G|m) one layer's gradients (reused going
          down); dh, dc (B, m) carries.

Why the code looks the way it does:
- Only the recurrent products h W_h are sequential. Input projections of layers >= 2, the
  logits, and every weight gradient are single BLAS GEMMs over all T*B rows of the chunk.
- Loss of a chunk = sum over steps, mean over streams: the output gradient is scaled by 1/B
  once, and everything below inherits it. In record mode (per-record training) a stream's
  chunk can end early: its steps after `length` are padding (target -1), which adds no loss
  and an exactly-zero output gradient, and, coming after the valid steps, changes neither
  their outputs nor (zero gradients flowing back) any gradient. The loss stays the sum over
  the valid steps of all streams divided by B (a padded or idle stream counts 0), so an
  update's gradient is what a 1/B share of each stream's records asks.
- The streams of a chunk can be split into groups (stream_group / finish_update): each
  group computes the loss and gradient of its streams into its own buffer, and
  finish_update sums the groups' buffers in group order before the optimizer. fastrnn.network
  runs the groups on threads; the sum does not depend on how many.
- Softmax and loss never compute on denormals (~100x slower, and under flush-to-zero the
  log of a denormal probability is -inf): the loss of a step is log-sum-exp, mx + log(sum)
  - o_y, and probabilities below the dtype's smallest normal number become exactly 0.
- Dropout masks come from a counter-based hash (splitmix64 of seed, update, layer, step,
  stream, unit) computed here, so they need no stored RNG state: resuming at update u
  redraws exactly the masks of update u. fastrnn.reference.network has the same hash in NumPy.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from numba import types
from numba.extending import overload

from . import optim
from .cells import gru, lstm, rnn
from .cells.common import gemm
from .draw import inverse_cdf, nucleus, softmax_t
from .jit import OPTIONS, jit, jit_inline
from .streams import fill_chunk, fill_table_chunk
from .vecmath import _vexp


class Params(NamedTuple):
    """Views of one flat buffer (parameters, their gradients, or the best-model snapshot)."""
    W_x1: np.ndarray
    W_xs: np.ndarray
    W_h: np.ndarray
    b: np.ndarray
    b_hn: np.ndarray
    W_y: np.ndarray
    b_y: np.ndarray


class Workspace(NamedTuple):
    X: np.ndarray
    Y: np.ndarray
    A: np.ndarray
    R: np.ndarray
    H: np.ndarray
    C: np.ndarray
    M: np.ndarray
    D: np.ndarray
    P: np.ndarray
    dA: np.ndarray
    dR: np.ndarray
    dH: np.ndarray
    dh: np.ndarray
    dc: np.ndarray


class Hyper(NamedTuple):
    """Training hyper-parameters. The floats an update multiplies with are in the parameters'
    dtype (float32 stays in float32 SIMD); dropout is float64, compared with the hash's
    53-bit uniforms."""
    optimizer: int          # optim.ADAGRAD, RMSPROP or ADAM
    eta: float
    clip: float
    eps: float
    alpha: float            # RMSprop's decay
    beta1: float            # Adam's
    beta2: float
    dropout: float          # probability of dropping a unit (0: no dropout)
    seed: np.uint64         # of the dropout masks


class Flat(NamedTuple):
    """The flat buffers an update touches, all of one layout (fastrnn.network.Layout)."""
    theta: np.ndarray       # (N,) parameters
    grad: np.ndarray        # (N,) their gradient
    moments: np.ndarray     # (2, N) optimizer state (see fastrnn.optim)
    best: np.ndarray        # (N,) best-model snapshot


class Schedule(NamedTuple):
    """The stream schedule of fastrnn.streams: contiguous strips, or (record mode, per-record
    training) a record table, whose arrays are empty (0, 0) in strip mode."""
    ids: np.ndarray         # int32 text
    strip: int              # characters per stream (strip mode)
    chunks_per_epoch: int   # E
    starts: np.ndarray      # (E, B) int64 first input of each stream's chunk (record mode)
    lengths: np.ndarray     # (E, B) int32 its predictions (0: the stream is idle)
    resets: np.ndarray      # (E, B) bool: the stream starts it from the zero state


class Run(NamedTuple):
    """The training state a block reads and advances (all of it is saved in a checkpoint)."""
    h: np.ndarray           # (L, B, m) each stream's hidden state, carried between chunks
    c: np.ndarray           # (L, B, m) the cell state (LSTM), else (L, B, 0)
    best_h: np.ndarray      # (L, m) stream 0's starting h at the best update
    best_c: np.ndarray      # (L, m) or (L, 0)
    fstate: np.ndarray      # float64 [smooth loss, best smooth loss (inf at the start)]
    istate: np.ndarray      # int64 [update, best update, best x0, chunk in epoch, epoch]
    losses: np.ndarray      # float64 (>= n_updates,) loss of the block's i-th update
    smooths: np.ndarray     # float64 (>= n_updates,) smooth loss after it


UPDATE, BEST_UPDATE, BEST_X0, CHUNK, EPOCH = range(5)
SMOOTH, BEST_SMOOTH = range(2)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_U30, _U27, _U31, _U32, _U11 = (np.uint64(n) for n in (30, 27, 31, 32, 11))
_TWO_M53 = 2.0 ** -53

RNN, LSTM, GRU = 0, 1, 2
_CELL_MODULES = (rnn, lstm, gru)


def cell_forward(cell, W_h, b_hn, A, R, H, C):
    """The cell's forward over one layer (compiled code only; cell a literal RNN/LSTM/GRU)."""
    raise NotImplementedError


def cell_backward(cell, W_h, b_hn, A, R, H, C, dH, dA, dR, dW_h, db_hn, dh, dc):
    """The cell's backward over one layer (compiled code only; cell a literal)."""
    raise NotImplementedError


@overload(cell_forward, jit_options=OPTIONS, inline="always")
def _cell_forward(cell, W_h, b_hn, A, R, H, C):
    if not isinstance(cell, types.IntegerLiteral):
        return None                     # Numba tries the literal type too: only that one fits
    fwd = _CELL_MODULES[cell.literal_value].forward

    def impl(cell, W_h, b_hn, A, R, H, C):
        fwd(W_h, b_hn, A, R, H, C)
    return impl


@overload(cell_backward, jit_options=OPTIONS, inline="always")
def _cell_backward(cell, W_h, b_hn, A, R, H, C, dH, dA, dR, dW_h, db_hn, dh, dc):
    if not isinstance(cell, types.IntegerLiteral):
        return None
    bwd = _CELL_MODULES[cell.literal_value].backward

    def impl(cell, W_h, b_hn, A, R, H, C, dH, dA, dR, dW_h, db_hn, dh, dc):
        bwd(W_h, b_hn, A, R, H, C, dH, dA, dR, dW_h, db_hn, dh, dc)
    return impl


@jit_inline
def _splitmix64(x):
    z = x + _GOLDEN
    z = (z ^ (z >> _U30)) * _MIX1
    z = (z ^ (z >> _U27)) * _MIX2
    return z ^ (z >> _U31)


@jit
def _dropout_mask(seed, update, layer, p, first, M):
    """M[t, s, j] = 1/(1-p) where unit j of stream first + s at step t is kept, else 0. Unit
    kept iff its uniform, the top 53 bits of splitmix64(key(t) ^ (stream*m + j)), is >= p,
    with key(t) = splitmix64(splitmix64(splitmix64(seed) ^ update) ^ (layer << 32 | t))."""
    T, B, m = M.shape
    keep = M.dtype.type(1.0 / (1.0 - p))
    zero = M.dtype.type(0.0)
    k0 = _splitmix64(_splitmix64(seed) ^ np.uint64(update))
    for t in range(T):
        kt = _splitmix64(k0 ^ ((np.uint64(layer) << _U32) | np.uint64(t)))
        for s in range(B):
            for j in range(m):
                u = _splitmix64(kt ^ np.uint64((first + s) * m + j))
                M[t, s, j] = keep if np.float64(u >> _U11) * _TWO_M53 >= p else zero


@jit_inline
def _rows(a):
    """A (T, B, n) C-contiguous array as (T*B, n)."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


# Copies and fills as loops: Numba's array assignment checks shapes with an error message
# whose string formatting costs seconds of cold compile, and loops are faster anyway.
@jit_inline
def _copy2(src, dst):
    """dst[...] = src for 2-D arrays of one shape."""
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] = src[i, j]


@jit_inline
def _fill(dst, value):
    """dst[...] = value for a C-contiguous array."""
    f = dst.reshape(-1)
    for i in range(f.size):
        f[i] = value


@jit_inline
def _input_projection(P, ws, layer, drop):
    """ws.A[layer] = the layer's input times W_x, plus b: a gather of W_x1's rows for layer 1
    (one-hot input), one GEMM over all T*B rows above it."""
    T, B = ws.X.shape
    G = P.W_h.shape[2]
    A = ws.A[layer]
    b = P.b[layer]
    if layer == 0:
        for t in range(T):
            for s in range(B):
                row, a = P.W_x1[ws.X[t, s]], A[t, s]
                for j in range(G):
                    a[j] = row[j] + b[j]
    else:
        inp = ws.D[layer - 1] if drop else ws.H[layer - 1, 1:]
        Af = _rows(A)
        gemm(_rows(inp), P.W_xs[layer - 1], Af)
        for r in range(Af.shape[0]):
            for j in range(G):
                Af[r, j] += b[j]


@jit_inline
def _apply_dropout(seed, update, layer, p, first, ws):
    """Draw layer's masks for streams first.. of the workspace and ws.D[layer] = H * M."""
    _dropout_mask(seed, update, layer, p, first, ws.M[layer])
    Hf, Mf, Df = ws.H[layer, 1:].reshape(-1), ws.M[layer].reshape(-1), ws.D[layer].reshape(-1)
    for i in range(Df.size):
        Df[i] = Hf[i] * Mf[i]


@jit_inline
def _logits(P, ws, drop):
    """ws.P = top layer's output @ W_y + b_y over all T*B rows."""
    L = P.W_h.shape[0]
    K = P.W_y.shape[1]
    top = ws.D[L - 1] if drop else ws.H[L - 1, 1:]
    logits = _rows(ws.P)
    gemm(_rows(top), P.W_y, logits)
    for r in range(logits.shape[0]):
        for k in range(K):
            logits[r, k] += P.b_y[k]


@jit
def _forward(cell, P, ws, dropout, seed, update, first):
    """Forward pass of all layers over the chunk ws.X from ws.H[:, 0] (and ws.C[:, 0]); leaves
    the logits in ws.P. Dropout (training only) when dropout > 0; the workspace holds streams
    first.. of the chunk (the masks depend on the stream's number)."""
    L = P.W_h.shape[0]
    drop = dropout > 0.0
    for layer in range(L):
        _input_projection(P, ws, layer, drop)
        cell_forward(cell, P.W_h[layer], P.b_hn[layer], ws.A[layer], ws.R[layer], ws.H[layer],
                     ws.C[layer])
        if drop:
            _apply_dropout(seed, update, layer, dropout, first, ws)
    _logits(P, ws, drop)


@jit
def _softmax_loss(P, Y, inv_b):
    """Softmax of every logit row of P (T, B, K) in place; returns sum over rows of
    -log p[y] times inv_b, and leaves P holding the output gradient (p - onehot(y)) inv_b.
    A row with y < 0 (padding) adds no loss and its gradient row is exactly 0.

    Denormal-proof: the loss of a row is log(sum exp(o - mx)) - (o_y - mx), never -log(p),
    and every exp and gradient value below the dtype's smallest normal number is set to
    exactly 0 by a select (it vectorises), so no later product computes on a denormal."""
    T, B, K = P.shape
    one = P.dtype.type(1.0)
    zero = P.dtype.type(0.0)
    # smallest normal number of the dtype (1e-300 is 0 in float32: a compile-time constant)
    tiny = P.dtype.type(2.2250738585072014e-308 if P.dtype.type(1e-300) != 0
                        else 1.1754943508222875e-38)
    loss = 0.0
    for t in range(T):
        for s in range(B):
            row = P[t, s]
            y = Y[t, s]
            if y < 0:
                for k in range(K):
                    row[k] = zero
                continue
            mx = row[0]
            for k in range(K):
                mx = max(mx, row[k])
            for k in range(K):
                row[k] -= mx
            oy = row[y]
            _vexp(row)
            tot = zero
            for k in range(K):
                v = row[k]
                v = v if v >= tiny else zero
                row[k] = v
                tot += v
            loss += np.log(np.float64(tot)) - np.float64(oy)
            scale = inv_b * (one / tot)
            for k in range(K):
                v = row[k] * scale
                row[k] = v if v >= tiny else zero
            row[y] -= inv_b
    return loss * inv_b


@jit_inline
def _backward(cell, P, G, ws, drop):
    """Gradients of every parameter into G, from the output gradient in ws.P (after the forward
    pass of the same workspace)."""
    L = P.W_h.shape[0]
    T, B = ws.X.shape
    TB = T * B
    dP = _rows(ws.P)
    top = ws.D[L - 1] if drop else ws.H[L - 1, 1:]
    gemm(_rows(top).T, dP, G.W_y)
    _fill(G.b_y, 0.0)
    for r in range(dP.shape[0]):
        for k in range(dP.shape[1]):
            G.b_y[k] += dP[r, k]
    dH = _rows(ws.dH)
    gemm(dP, P.W_y.T, dH)
    for layer in range(L - 1, -1, -1):
        if drop:
            Mf, dHf = ws.M[layer].reshape(-1), ws.dH.reshape(-1)
            for i in range(dHf.size):
                dHf[i] *= Mf[i]
        cell_backward(cell, P.W_h[layer], P.b_hn[layer], ws.A[layer], ws.R[layer], ws.H[layer],
                      ws.C[layer], ws.dH, ws.dA, ws.dR, G.W_h[layer], G.b_hn[layer], ws.dh,
                      ws.dc)
        dA = _rows(ws.dA)
        db = G.b[layer]
        _fill(db, 0.0)
        for r in range(TB):
            for j in range(dA.shape[1]):
                db[j] += dA[r, j]
        if layer == 0:
            _fill(G.W_x1, 0.0)
            for t in range(T):
                for s in range(B):
                    row, da = G.W_x1[ws.X[t, s]], ws.dA[t, s]
                    for j in range(row.size):
                        row[j] += da[j]
        else:
            inp = ws.D[layer - 1] if drop else ws.H[layer - 1, 1:]
            gemm(_rows(inp).T, dA, G.W_xs[layer - 1])
            gemm(dA, P.W_xs[layer - 1].T, dH)


@jit
def _chunk_grads(cell, P, G, ws, hp, update, train, first, inv_b):
    """Loss of the chunk (ws.X, ws.Y) from the states in ws.H[:, 0], ws.C[:, 0], times inv_b
    (1 / all streams of the chunk), and its gradient w.r.t. every parameter, written into G.
    The workspace holds streams first.. of the chunk. Dropout only when train."""
    dropout = hp.dropout if train else 0.0
    _forward(cell, P, ws, dropout, hp.seed, update, first)
    loss = _softmax_loss(ws.P, ws.Y, ws.P.dtype.type(inv_b))
    _backward(cell, P, G, ws, dropout > 0.0)
    return loss


@jit_inline
def _stream_group(cell, P, G, ws, hp, sched, run, first, inv_b, next_h, next_c):
    """Loss and gradient (into G) of streams first.. first+B-1 of the current update's chunk,
    B = the workspace's streams. Reads run (the chunk number, the states), writes only G, ws
    and its own streams of next_h / next_c (the final states: after the stream's last valid
    step in record mode): groups can run concurrently. finish_update then applies the
    update."""
    L = P.W_h.shape[0]
    T, B = ws.X.shape
    ist = run.istate
    k = ist[CHUNK]
    if k >= sched.chunks_per_epoch:
        k = 0
    table = sched.starts.shape[0] > 0
    if table:
        fill_table_chunk(sched.ids, sched.starts, sched.lengths, k, ws.X, ws.Y, first)
    else:
        fill_chunk(sched.ids, sched.strip, k, ws.X, ws.Y, first)
    has_c = run.c.shape[2] > 0
    m = run.h.shape[2]
    for s in range(B):
        zero = _starts_fresh(sched, k, first + s)
        for layer in range(L):
            h0, c0 = ws.H[layer, 0, s], ws.C[layer, 0, s]
            if zero:
                for j in range(m):
                    h0[j] = 0.0
                for j in range(c0.size):
                    c0[j] = 0.0
            else:
                h, c = run.h[layer, first + s], run.c[layer, first + s]
                for j in range(m):
                    h0[j] = h[j]
                for j in range(c0.size):
                    c0[j] = c[j]
    loss = _chunk_grads(cell, P, G, ws, hp, ist[UPDATE], True, first, inv_b)
    for s in range(B):
        n = sched.lengths[k, first + s] if table else T
        for layer in range(L):
            h, nh = ws.H[layer, n, s], next_h[layer, first + s]
            for j in range(m):
                nh[j] = h[j]
            if has_c:
                c, nc = ws.C[layer, n, s], next_c[layer, first + s]
                for j in range(m):
                    nc[j] = c[j]
    return loss


@jit_inline
def _starts_fresh(sched, k, s):
    """Whether stream s starts chunk k from the zero state: at the epoch's first chunk (strip
    mode); where a record starts or the stream is idle (record mode)."""
    if sched.starts.shape[0] > 0:
        return sched.resets[k, s] or sched.lengths[k, s] == 0
    return k == 0


@jit
def finish_update(flat, grads, hp, sched, run, next_h, next_c, loss, x0, i):
    """The rest of an update after its stream groups (losses summed into loss): advance the
    schedule (wrap the epoch; zero the states of the streams that start the chunk fresh: all
    of them at the epoch's first chunk, in record mode those starting a record or idle), stop
    if the loss is not finite (returns False, nothing updated), record loss and smooth loss
    (0.999 s + 0.001 L, started at update 0's loss) at run.losses[i], sum the groups'
    gradients grads (n, N) into flat.grad in group order (grads may be flat.grad itself as
    (1, N)), keep the best model when the smooth loss reaches a new minimum (the pre-update
    parameters, in the optimizer's pass; stream 0's starting state and first character x0),
    clip + optimizer, carry the states."""
    ist, fst = run.istate, run.fstate
    if ist[CHUNK] >= sched.chunks_per_epoch:
        ist[CHUNK] = 0
        ist[EPOCH] += 1
    k = ist[CHUNK]
    if sched.starts.shape[0] > 0:
        for s in range(run.h.shape[1]):
            if _starts_fresh(sched, k, s):
                for layer in range(run.h.shape[0]):
                    _fill(run.h[layer, s], 0.0)
                    _fill(run.c[layer, s], 0.0)
    elif k == 0:
        _fill(run.h, 0.0)
        _fill(run.c, 0.0)
    if not np.isfinite(loss):
        return False
    u = ist[UPDATE]
    smooth = loss if u == 0 else 0.999 * fst[SMOOTH] + 0.001 * loss
    fst[SMOOTH] = smooth
    run.losses[i] = loss
    run.smooths[i] = smooth
    save = smooth < fst[BEST_SMOOTH]
    L = run.h.shape[0]
    if save:
        fst[BEST_SMOOTH] = smooth
        ist[BEST_UPDATE] = u
        ist[BEST_X0] = x0
        for layer in range(L):
            for j in range(run.h.shape[2]):
                run.best_h[layer, j] = run.h[layer, 0, j]
            for j in range(run.c.shape[2]):
                run.best_c[layer, j] = run.c[layer, 0, j]
    g = flat.grad
    if grads.shape[0] > 1:
        first = grads[0]
        for j in range(g.size):
            g[j] = first[j]
        for n in range(1, grads.shape[0]):
            other = grads[n]
            for j in range(g.size):
                g[j] += other[j]
    optim.update(hp.optimizer, flat.theta, g, flat.moments, hp, u + 1, flat.best, save)
    for layer in range(L):
        _copy2(next_h[layer], run.h[layer])
        _copy2(next_c[layer], run.c[layer])
    ist[CHUNK] = k + 1
    ist[UPDATE] = u + 1
    return True


@jit_inline
def _train_block(cell, P, G, ws, hp, flat, sched, run, n_updates):
    """n_updates training updates of all streams as one group, chunk after chunk of the stream
    schedule (see _stream_group and finish_update). Returns the number of updates done: fewer
    than n_updates when a loss is not finite (it stops before that update; the caller reports
    divergence)."""
    B = ws.X.shape[1]
    next_h = np.empty_like(run.h)
    next_c = np.empty_like(run.c)
    grads = flat.grad.reshape(1, flat.grad.size)
    for i in range(n_updates):
        loss = _stream_group(cell, P, G, ws, hp, sched, run, 0, 1.0 / B, next_h, next_c)
        if not finish_update(flat, grads, hp, sched, run, next_h, next_c, loss, ws.X[0, 0], i):
            return i
    return n_updates


@jit_inline
def _carry_state(ws):
    """After a one-step forward: the new state becomes the next step's starting state."""
    L = ws.H.shape[0]
    for layer in range(L):
        _copy2(ws.H[layer, 1], ws.H[layer, 0])
        _copy2(ws.C[layer, 1], ws.C[layer, 0])


@jit
def _draw(p, temperature, top_p, r):
    """One id from the logits p (K,) (overwritten): argmax at temperature 0, else the inverse
    CDF at the uniform r of softmax(p / temperature), restricted when top_p < 1 to the smallest
    most-likely set of mass >= top_p."""
    K = p.size
    best = 0
    for k in range(K):
        if p[k] > p[best]:
            best = k
    if temperature == 0.0:
        return best
    softmax_t(p, p[best], temperature)
    if top_p < 1.0:
        return nucleus(p, r, top_p)
    return inverse_cdf(p, r)


@jit
def _sample(cell, P, ws, x0, temperature, top_p, uniforms, out):
    """Draw len(out) characters from the state in ws.H[:, 0] / ws.C[:, 0] (a T = B = 1
    workspace; the state is advanced in place), feeding x0 first. Each id is drawn from
    softmax(logits / temperature) by the inverse CDF at uniforms[i] (the caller's RNG decides);
    temperature 0 is argmax; top_p < 1 keeps the smallest most-likely set of mass >= top_p."""
    x = x0
    for step in range(out.size):
        ws.X[0, 0] = x
        _forward(cell, P, ws, 0.0, np.uint64(0), 0, 0)
        _carry_state(ws)
        x = _draw(ws.P[0, 0], temperature, top_p, uniforms[step])
        out[step] = x


@jit_inline
def _score_chunk(cell, P, ws, h, c, ids, pos):
    """Sum of -log p(ids[pos+t+1] | ...) for the T = ws.X.shape[0] steps from ids[pos], from
    the state (h, c) (L, 1, m), which is then advanced past those steps. The loss is
    training's (_softmax_loss, its output gradient unused)."""
    T = ws.X.shape[0]
    L = ws.H.shape[0]
    for layer in range(L):
        _copy2(h[layer], ws.H[layer, 0])
        _copy2(c[layer], ws.C[layer, 0])
    for t in range(T):
        ws.X[t, 0] = ids[pos + t]
        ws.Y[t, 0] = ids[pos + t + 1]
    _forward(cell, P, ws, 0.0, np.uint64(0), 0, 0)
    total = _softmax_loss(ws.P, ws.Y, ws.P.dtype.type(1.0))
    for layer in range(L):
        _copy2(ws.H[layer, T], h[layer])
        _copy2(ws.C[layer, T], c[layer])
    return total


@jit
def _sequence_loss(cell, P, wss, h, c, ids, resets, counts):
    """Sum of -log p(ids[t+1] | ids[..t]) over a text, forward only. The state (h, c), (L, 1, m)
    scratch arrays, starts at 0 and is reset where resets[t+1] (a document starts at t+1:
    nothing predicts it). counts[0] += the number of predictions.

    A document is read in chunks, each one forward pass as in training: layer by layer, so a
    layer's W_h stays in cache over the chunk's steps and the layers above and the output read
    the chunk through one GEMM each (one step at a time, every layer's weights were read at
    every character: 3x slower for two layers of 128). wss are B = 1 workspaces of T = 128,
    64, ..., 1 steps, largest first: a document takes as many 128-step chunks as fit, then at
    most one of each smaller size, so no step is computed that is not scored."""
    total = 0.0
    s = 0
    while s < ids.size:
        e = s + 1                                  # the document ids[s:e]
        while e < ids.size and not resets[e]:
            e += 1
        _fill(h, 0.0)
        _fill(c, 0.0)
        pos, stop = s, e - 1                       # predict ids[pos + 1 .. e) from ids[pos ..]
        for ws in wss:
            T = ws.X.shape[0]
            while stop - pos >= T:
                total += _score_chunk(cell, P, ws, h, c, ids, pos)
                pos += T
        counts[0] += max(e - 1 - s, 0)
        s = e
    return total


# ---- entry points, one set per cell: the only difference is the literal cell ----------------
# Written out, not made by a factory: Numba's disk cache indexes a function by its qualified
# name and source line, so closures made in a loop would share one cache index and evict each
# other's entries at every start.
@jit
def rnn_loss_and_grads(P, G, ws, hp, update, train):
    return _chunk_grads(RNN, P, G, ws, hp, update, train, 0, 1.0 / ws.X.shape[1])


@jit
def rnn_train_block(P, G, ws, hp, flat, sched, run, n_updates):
    return _train_block(RNN, P, G, ws, hp, flat, sched, run, n_updates)


@jit
def rnn_stream_group(P, G, ws, hp, sched, run, first, inv_b, next_h, next_c):
    return _stream_group(RNN, P, G, ws, hp, sched, run, first, inv_b, next_h, next_c)


@jit
def rnn_sample(P, ws, x0, temperature, top_p, uniforms, out):
    _sample(RNN, P, ws, x0, temperature, top_p, uniforms, out)


@jit
def rnn_sequence_loss(P, wss, h, c, ids, resets, counts):
    return _sequence_loss(RNN, P, wss, h, c, ids, resets, counts)


@jit
def lstm_loss_and_grads(P, G, ws, hp, update, train):
    return _chunk_grads(LSTM, P, G, ws, hp, update, train, 0, 1.0 / ws.X.shape[1])


@jit
def lstm_train_block(P, G, ws, hp, flat, sched, run, n_updates):
    return _train_block(LSTM, P, G, ws, hp, flat, sched, run, n_updates)


@jit
def lstm_stream_group(P, G, ws, hp, sched, run, first, inv_b, next_h, next_c):
    return _stream_group(LSTM, P, G, ws, hp, sched, run, first, inv_b, next_h, next_c)


@jit
def lstm_sample(P, ws, x0, temperature, top_p, uniforms, out):
    _sample(LSTM, P, ws, x0, temperature, top_p, uniforms, out)


@jit
def lstm_sequence_loss(P, wss, h, c, ids, resets, counts):
    return _sequence_loss(LSTM, P, wss, h, c, ids, resets, counts)


@jit
def gru_loss_and_grads(P, G, ws, hp, update, train):
    return _chunk_grads(GRU, P, G, ws, hp, update, train, 0, 1.0 / ws.X.shape[1])


@jit
def gru_train_block(P, G, ws, hp, flat, sched, run, n_updates):
    return _train_block(GRU, P, G, ws, hp, flat, sched, run, n_updates)


@jit
def gru_stream_group(P, G, ws, hp, sched, run, first, inv_b, next_h, next_c):
    return _stream_group(GRU, P, G, ws, hp, sched, run, first, inv_b, next_h, next_c)


@jit
def gru_sample(P, ws, x0, temperature, top_p, uniforms, out):
    _sample(GRU, P, ws, x0, temperature, top_p, uniforms, out)


@jit
def gru_sequence_loss(P, wss, h, c, ids, resets, counts):
    return _sequence_loss(GRU, P, wss, h, c, ids, resets, counts)


class Entries(NamedTuple):
    """The compiled entry points of one cell (fastrnn.network's Network.kernels)."""
    loss_and_grads: object
    train_block: object
    stream_group: object
    sample: object
    sequence_loss: object
    finish_update: object


ENTRIES = {
    "rnn": Entries(rnn_loss_and_grads, rnn_train_block, rnn_stream_group, rnn_sample,
                   rnn_sequence_loss, finish_update),
    "lstm": Entries(lstm_loss_and_grads, lstm_train_block, lstm_stream_group, lstm_sample,
                    lstm_sequence_loss, finish_update),
    "gru": Entries(gru_loss_and_grads, gru_train_block, gru_stream_group, gru_sample,
                   gru_sequence_loss, finish_update),
}
