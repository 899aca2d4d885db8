"""GRU layer (as torch.nn.GRU): forward and backward of one layer over a (T, B) chunk.

Gates r, z, n stacked in that order along the last axis (3m columns):
  r = σ(x W_xr + b_r + h W_hr),  z = σ(x W_xz + b_z + h W_hz)
  n = tanh(x W_xn + b_n + r ⊙ (h W_hn + b_hn)) ;  h' = (1 − z) ⊙ n + z ⊙ h
b holds torch's b_ir + b_hr, b_iz + b_hz and b_in; b_hn stays separate (it sits inside r ⊙ …).
Weights are stored for row-vector products (transposed from torch's weight_ih / weight_hh).

Init: weights U(-1/√m, 1/√m) like torch; all biases 0.

Workspace use for one layer: A[t] (B, 3m) holds the input projection x_t W_x + b on entry and
(r, z, n) on exit; R[t] holds the recurrent product h W_h, whose n block becomes
h W_hn + b_hn (kept for the backward pass). σ(x) = 1 / (1 + exp(-x)) (fastrnn.vecmath).
"""
from __future__ import annotations

import numpy as np

from ..jit import jit
from ..vecmath import _sigmoid, _tanh
from .common import gemm, recurrent, recurrent_t

GATES = 3
STATES = 1


def init_weight(rng: np.random.Generator, shape: tuple, hidden: int, sig: float) -> np.ndarray:
    """A weight matrix in torch's orientation (out, in), U(-1/√m, 1/√m) as torch draws it."""
    k = 1.0 / np.sqrt(hidden)
    return rng.uniform(-k, k, shape)


def init_bias(b: np.ndarray, b_hn: np.ndarray, hidden: int) -> None:
    b[...] = 0.0
    b_hn[...] = 0.0


@jit
def forward(W_h, b_hn, A, R, H, C):
    """Run the layer over T steps from H[0]; fills H[1..T], A, R (C is unused)."""
    T, B, G = A.shape
    m = G // 3
    one = A.dtype.type(1.0)
    for t in range(T):
        at, rt = A[t], R[t]
        recurrent(H[t], W_h, rt)                       # (B, m) @ (m, 3m)
        h_prev, h_new = H[t], H[t + 1]
        for s in range(B):
            a, r = at[s], rt[s]
            hp, hs = h_prev[s], h_new[s]
            for j in range(2 * m):                  # r, z = σ (one vectorised pass)
                a[j] = _sigmoid(a[j] + r[j])
            for j in range(m):                      # n and the new state
                hn = r[2 * m + j] + b_hn[j]
                n = _tanh(a[2 * m + j] + a[j] * hn)
                z = a[m + j]
                a[2 * m + j] = n
                r[2 * m + j] = hn
                hs[j] = (one - z) * n + z * hp[j]


@jit
def backward(W_h, b_hn, A, R, H, C, dH, dA, dR, dW_h, db_hn, dh, dc):
    """Backpropagate dH[t] (gradient w.r.t. H[t+1] from above) through the layer.

    Writes dA (gradient w.r.t. the input projection x W_x + b), dR (w.r.t. the recurrent
    projection h W_h; it differs from dA in the n block, which r scales), dW_h and db_hn;
    dh is the (B, m) carry."""
    T, B, G = A.shape
    m = G // 3
    one = A.dtype.type(1.0)
    for s in range(B):
        for j in range(m):
            dh[s, j] = 0.0
    for j in range(m):
        db_hn[j] = 0.0
    for t in range(T - 1, -1, -1):
        at, rt, dat, drt = A[t], R[t], dA[t], dR[t]
        h_prev, dht = H[t], dH[t]
        for s in range(B):
            a, r, da, dr = at[s], rt[s], dat[s], drt[s]
            for j in range(m):
                rj, z, n = a[j], a[m + j], a[2 * m + j]
                hn = r[2 * m + j]
                dhj = dht[s, j] + dh[s, j]
                dn = dhj * (one - z) * (one - n * n)
                da[2 * m + j] = dn
                dr[2 * m + j] = dn * rj
                db_hn[j] += dn * rj
                drj = dn * hn * rj * (one - rj)
                da[j] = drj
                dr[j] = drj
                dzj = dhj * (h_prev[s, j] - n) * z * (one - z)
                da[m + j] = dzj
                dr[m + j] = dzj
                dh[s, j] = dhj * z                  # the direct path; W_h's term is added below
        if t > 0:
            recurrent_t(drt, W_h, dc)                  # dc: scratch for the (B, m) product
            for s in range(B):
                for j in range(m):
                    dh[s, j] += dc[s, j]
    T_B = T * B
    gemm(H[:T].reshape(T_B, m).T, dR.reshape(T_B, G), dW_h)

