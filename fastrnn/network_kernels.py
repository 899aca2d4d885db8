"""Compiled bodies of the network (cell x L layers + softmax output layer), generic in the cell.

Each function takes the cell's `forward` / `backward` (fastrnn.cells.<name>) as its first
arguments; the cell modules wrap them in cached entry points (see fastrnn.jit for why).
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
          down); dh, dc (B, m) carries; bits: integer scratch of the vectorised tanh/exp.

Why the code looks the way it does:
- Only the recurrent products h W_h are sequential. Input projections of layers >= 2, the
  logits, and every weight gradient are single BLAS GEMMs over all T*B rows of the chunk.
- Loss of a chunk = sum over steps, mean over streams: the output gradient is scaled by 1/B
  once, and everything below inherits it.
- Dropout masks come from a counter-based hash (splitmix64 of seed, update, layer, step,
  stream, unit) computed here, so they need no stored RNG state: resuming at update u
  redraws exactly the masks of update u. fastrnn.reference.network has the same hash in NumPy.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import optim
from .jit import jit_generic, jit_inline
from .streams import fill_chunk
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
    bits: np.ndarray


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
    """The stream schedule of fastrnn.streams."""
    ids: np.ndarray         # int32 text
    strip: int              # characters per stream
    chunks_per_epoch: int


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


@jit_inline
def _splitmix64(x):
    z = x + _GOLDEN
    z = (z ^ (z >> _U30)) * _MIX1
    z = (z ^ (z >> _U27)) * _MIX2
    return z ^ (z >> _U31)


@jit_inline
def _dropout_mask(seed, update, layer, p, M):
    """M[t, s, j] = 1/(1-p) where unit j of stream s at step t is kept, else 0. Unit kept iff
    its uniform, the top 53 bits of splitmix64(key(t) ^ (s*m + j)), is >= p, with
    key(t) = splitmix64(splitmix64(splitmix64(seed) ^ update) ^ (layer << 32 | t))."""
    T, B, m = M.shape
    keep = M.dtype.type(1.0 / (1.0 - p))
    zero = M.dtype.type(0.0)
    k0 = _splitmix64(_splitmix64(seed) ^ np.uint64(update))
    for t in range(T):
        kt = _splitmix64(k0 ^ ((np.uint64(layer) << _U32) | np.uint64(t)))
        for s in range(B):
            for j in range(m):
                u = _splitmix64(kt ^ np.uint64(s * m + j))
                M[t, s, j] = keep if np.float64(u >> _U11) * _TWO_M53 >= p else zero


@jit_inline
def _rows(a):
    """A (T, B, n) C-contiguous array as (T*B, n)."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


@jit_generic
def forward(cell_forward, P, ws, dropout, seed, update):
    """Forward pass of all layers over the chunk ws.X from ws.H[:, 0] (and ws.C[:, 0]); leaves
    the logits in ws.P. Dropout (training only) when dropout > 0."""
    L = P.W_h.shape[0]
    T, B = ws.X.shape
    G = P.W_h.shape[2]
    K = P.W_y.shape[1]
    drop = dropout > 0.0
    for layer in range(L):
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
            np.dot(_rows(inp), P.W_xs[layer - 1], Af)
            for r in range(Af.shape[0]):
                for j in range(G):
                    Af[r, j] += b[j]
        cell_forward(P.W_h[layer], P.b_hn[layer], A, ws.R[layer], ws.H[layer], ws.C[layer], ws.bits)
        if drop:
            _dropout_mask(seed, update, layer, dropout, ws.M[layer])
            Hf, Mf, Df = ws.H[layer, 1:].reshape(-1), ws.M[layer].reshape(-1), ws.D[layer].reshape(-1)
            for i in range(Df.size):
                Df[i] = Hf[i] * Mf[i]
    top = ws.D[L - 1] if drop else ws.H[L - 1, 1:]
    logits = _rows(ws.P)
    np.dot(_rows(top), P.W_y, logits)
    for r in range(logits.shape[0]):
        for k in range(K):
            logits[r, k] += P.b_y[k]


@jit_inline
def _softmax_loss(ws):
    """Softmax of every logit row in ws.P; returns sum -log p[y] / B and leaves ws.P holding
    the output gradient (p - onehot(y)) / B."""
    T, B = ws.X.shape
    K = ws.P.shape[2]
    inv_b = ws.P.dtype.type(1.0 / B)
    loss = 0.0
    for t in range(T):
        for s in range(B):
            row = ws.P[t, s]
            mx = row[0]
            for k in range(K):
                mx = max(mx, row[k])
            for k in range(K):
                row[k] -= mx
            _vexp(row, ws.bits[:K])
            tot = row[0] - row[0]
            for k in range(K):
                tot += row[k]
            scale = inv_b / tot
            y = ws.Y[t, s]
            loss -= np.log(row[y] / tot)
            for k in range(K):
                row[k] *= scale
            row[y] -= inv_b
    return loss / B


@jit_generic
def loss_and_grads(cell_forward, cell_backward, P, G, ws, hp, update, train):
    """Loss of the chunk (ws.X, ws.Y) from the states in ws.H[:, 0], ws.C[:, 0], and its
    gradient w.r.t. every parameter, written into G. Dropout only when train."""
    L = P.W_h.shape[0]
    T, B = ws.X.shape
    TB = T * B
    dropout = hp.dropout if train else 0.0
    drop = dropout > 0.0
    forward(cell_forward, P, ws, dropout, hp.seed, update)
    loss = _softmax_loss(ws)
    dP = _rows(ws.P)
    top = ws.D[L - 1] if drop else ws.H[L - 1, 1:]
    np.dot(_rows(top).T, dP, G.W_y)
    G.b_y[:] = 0.0
    for r in range(dP.shape[0]):
        for k in range(dP.shape[1]):
            G.b_y[k] += dP[r, k]
    dH = _rows(ws.dH)
    np.dot(dP, P.W_y.T, dH)
    for layer in range(L - 1, -1, -1):
        if drop:
            Mf, dHf = ws.M[layer].reshape(-1), ws.dH.reshape(-1)
            for i in range(dHf.size):
                dHf[i] *= Mf[i]
        cell_backward(P.W_h[layer], P.b_hn[layer], ws.A[layer], ws.R[layer], ws.H[layer],
                      ws.C[layer], ws.dH, ws.dA, ws.dR, G.W_h[layer], G.b_hn[layer], ws.dh,
                      ws.dc, ws.bits)
        dA = _rows(ws.dA)
        db = G.b[layer]
        db[:] = 0.0
        for r in range(TB):
            for j in range(dA.shape[1]):
                db[j] += dA[r, j]
        if layer == 0:
            G.W_x1[:] = 0.0
            for t in range(T):
                for s in range(B):
                    row, da = G.W_x1[ws.X[t, s]], ws.dA[t, s]
                    for j in range(row.size):
                        row[j] += da[j]
        else:
            inp = ws.D[layer - 1] if drop else ws.H[layer - 1, 1:]
            np.dot(_rows(inp).T, dA, G.W_xs[layer - 1])
            np.dot(dA, P.W_xs[layer - 1].T, dH)
    return loss


@jit_generic
def train_block(cell_forward, cell_backward, P, G, ws, hp, flat, sched, run, n_updates):
    """n_updates training updates, chunk after chunk of the stream schedule.

    Per update: chunk run.istate[CHUNK] of every stream (all states zeroed at an epoch's first
    chunk), loss and gradients, smooth loss 0.999 s + 0.001 L (started at update 0's loss),
    then clip + the optimizer over the flat buffers. When the smooth loss reaches a new
    minimum, the pre-update parameters go to flat.best (in the optimizer's pass), and stream
    0's starting state and first character to run.best_h / best_c / istate[BEST_X0].
    Returns the number of updates done: fewer than n_updates when a loss is not finite (it
    stops before that update; the caller reports divergence)."""
    L = P.W_h.shape[0]
    T = ws.X.shape[0]
    ist, fst = run.istate, run.fstate
    has_c = run.c.shape[2] > 0
    for i in range(n_updates):
        if ist[CHUNK] >= sched.chunks_per_epoch:
            ist[CHUNK] = 0
            ist[EPOCH] += 1
        k = ist[CHUNK]
        if k == 0:
            run.h[...] = 0.0
            run.c[...] = 0.0
        fill_chunk(sched.ids, sched.strip, k, ws.X, ws.Y)
        for layer in range(L):
            ws.H[layer, 0] = run.h[layer]
            if has_c:
                ws.C[layer, 0] = run.c[layer]
        u = ist[UPDATE]
        loss = loss_and_grads(cell_forward, cell_backward, P, G, ws, hp, u, True)
        if not np.isfinite(loss):
            return i
        smooth = loss if u == 0 else 0.999 * fst[SMOOTH] + 0.001 * loss
        fst[SMOOTH] = smooth
        run.losses[i] = loss
        run.smooths[i] = smooth
        save = smooth < fst[BEST_SMOOTH]
        if save:
            fst[BEST_SMOOTH] = smooth
            ist[BEST_UPDATE] = u
            ist[BEST_X0] = ws.X[0, 0]
            for layer in range(L):
                run.best_h[layer] = run.h[layer, 0]
                if has_c:
                    run.best_c[layer] = run.c[layer, 0]
        optim.update(hp.optimizer, flat.theta, flat.grad, flat.moments, hp, u + 1, flat.best,
                     save)
        for layer in range(L):
            run.h[layer] = ws.H[layer, T]
            if has_c:
                run.c[layer] = ws.C[layer, T]
        ist[CHUNK] = k + 1
        ist[UPDATE] = u + 1
    return n_updates


@jit_inline
def _carry_state(ws):
    """After a one-step forward: the new state becomes the next step's starting state."""
    L = ws.H.shape[0]
    for layer in range(L):
        ws.H[layer, 0] = ws.H[layer, 1]
        if ws.C.shape[3] > 0:
            ws.C[layer, 0] = ws.C[layer, 1]


@jit_generic
def sample(cell_forward, P, ws, x0, temperature, top_p, uniforms, out):
    """Draw len(out) characters from the state in ws.H[:, 0] / ws.C[:, 0] (a T = B = 1
    workspace; the state is advanced in place), feeding x0 first. Each id is drawn from
    softmax(logits / temperature) by the inverse CDF at uniforms[i] (the caller's RNG decides);
    temperature 0 is argmax; top_p < 1 keeps the smallest most-likely set of mass >= top_p."""
    K = P.W_y.shape[1]
    x = x0
    p = ws.P[0, 0]
    for step in range(out.size):
        ws.X[0, 0] = x
        forward(cell_forward, P, ws, 0.0, np.uint64(0), 0)
        _carry_state(ws)
        best = 0
        for k in range(K):
            if p[k] > p[best]:
                best = k
        if temperature == 0.0:
            x = best
        else:
            mx = p[best]
            tot = 0.0
            for k in range(K):
                p[k] = np.exp((p[k] - mx) / temperature)
                tot += p[k]
            for k in range(K):
                p[k] /= tot
            r = uniforms[step]
            x = K - 1
            if top_p < 1.0:
                order = np.argsort(-p)
                mass = 0.0
                keep = K
                for i in range(K):
                    mass += p[order[i]]
                    if mass >= top_p:
                        keep = i + 1
                        break
                r *= mass                       # draw inside the kept mass
                x = order[keep - 1]
                acc = 0.0
                for i in range(keep):
                    acc += p[order[i]]
                    if r < acc:
                        x = order[i]
                        break
            else:
                acc = 0.0
                for k in range(K):
                    acc += p[k]
                    if r < acc:
                        x = k
                        break
        out[step] = x


@jit_generic
def sequence_loss(cell_forward, P, ws, ids, resets, counts):
    """Sum of -log p(ids[t+1] | ids[..t]) over a text, forward only, one step at a time (a T =
    B = 1 workspace). The state starts at 0 and is reset where resets[t+1] (a document starts
    at t+1: nothing predicts it). counts[0] += the number of predictions."""
    K = P.W_y.shape[1]
    ws.H[...] = 0.0
    ws.C[...] = 0.0
    p = ws.P[0, 0]
    total = 0.0
    for t in range(ids.size - 1):
        if resets[t + 1]:
            ws.H[...] = 0.0
            ws.C[...] = 0.0
            continue
        ws.X[0, 0] = ids[t]
        forward(cell_forward, P, ws, 0.0, np.uint64(0), 0)
        _carry_state(ws)
        mx = p[0]
        for k in range(K):
            mx = max(mx, p[k])
        tot = 0.0
        for k in range(K):
            tot += np.exp(p[k] - mx)
        total += mx + np.log(tot) - p[ids[t + 1]]
        counts[0] += 1
    return total
