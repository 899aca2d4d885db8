"""LSTM layer (as torch.nn.LSTM): forward and backward of one layer over a (T, B) chunk.

Gates i, f, g, o are stacked in that order along the last axis (4m columns):
  i = σ(x W_xi + h W_hi + b_i), f = σ(…f…), g = tanh(…g…), o = σ(…o…)
  c' = f ⊙ c + i ⊙ g ;  h' = o ⊙ tanh(c')
Weights are stored for row-vector products, x (B, n) @ W_x (n, 4m), i.e. transposed from
torch's weight_ih (4m, n); one bias per gate (torch's b_ih + b_hh).

Init: weights U(-1/√m, 1/√m) like torch; biases 0, the forget gate's too. A forget-gate
bias of 1.0 (Jozefowicz et al. 2015; char-rnn) was the default until measured: it slowed
learning on character text, in fastrnn and in PyTorch alike (docs/models.md has the numbers).

Workspace use for one layer (see fastrnn.network_kernels): A[t] (B, 4m) holds the input
projection x_t W_x + b on entry and the gate activations (i, f, g, o) on exit; R[t] holds
the recurrent product h_t W_h, then tanh(c_{t+1}) in each stream's first m columns.
σ(x) = 1 / (1 + exp(-x)) (fastrnn.vecmath: faster than 1/2 + 1/2 tanh(x/2), and
accurate where σ is small). A step's gates, cell and output are one fused pass per stream
(vecmath's inline tanh vectorises inside it): at batch 1 separate passes over the 4m gate
values cost as much as the recurrent mat-vec.
"""
from __future__ import annotations

import numpy as np

from ..jit import jit
from ..vecmath import _sigmoid, _tanh
from .common import gemm, recurrent, recurrent_t

GATES = 4
STATES = 2          # h and c


def init_weight(rng: np.random.Generator, shape: tuple, hidden: int, sig: float) -> np.ndarray:
    """A weight matrix in torch's orientation (out, in), U(-1/√m, 1/√m) as torch draws it."""
    k = 1.0 / np.sqrt(hidden)
    return rng.uniform(-k, k, shape)


def init_bias(b: np.ndarray, b_hn: np.ndarray, hidden: int) -> None:
    """b = 0, every gate's (see the module docstring)."""
    b[...] = 0.0


@jit
def _sigmoid_gates(a, r, lo, hi):
    """a[j] = σ(a[j] + r[j]) for lo <= j < hi."""
    # indexing through slices from 0: an index range(lo, hi) may be negative as far as LLVM
    # knows, and Numba's wraparound select for negative indices then blocks vectorisation
    a_, r_ = a[lo:hi], r[lo:hi]
    for j in range(a_.size):
        a_[j] = _sigmoid(a_[j] + r_[j])


@jit
def _tanh_gates(a, r, lo, hi):
    """a[j] = tanh(a[j] + r[j]) for lo <= j < hi."""
    a_, r_ = a[lo:hi], r[lo:hi]
    for j in range(a_.size):
        a_[j] = _tanh(a_[j] + r_[j])


@jit
def forward(W_h, b_hn, A, R, H, C):
    """Run the layer over T steps from H[0], C[0]; fills H[1..T], C[1..T], A, R."""
    T, B, G = A.shape
    m = G // 4
    for t in range(T):
        at, rt = A[t], R[t]
        recurrent(H[t], W_h, rt)                       # (B, m) @ (m, 4m): the recurrent term
        c_prev, c_new, h_new = C[t], C[t + 1], H[t + 1]
        for s in range(B):
            a, r, cp, cn, hn = at[s], rt[s], c_prev[s], c_new[s], h_new[s]
            # the gates, one call per run of gates with the same activation: a select on
            # j's gate inside one loop cost ~100 instructions per 8 values (64-bit index
            # compares, packs, spills)
            _sigmoid_gates(a, r, 0, 2 * m)          # i, f
            _tanh_gates(a, r, 2 * m, 3 * m)         # g
            _sigmoid_gates(a, r, 3 * m, G)          # o
            # then cell and output: a separate pass (LLVM will not vectorise one loop that
            # reads and writes a at four offsets: too many runtime overlap checks)
            for j in range(m):                      # cell and output
                c = a[m + j] * cp[j] + a[j] * a[2 * m + j]
                tc = _tanh(c)
                cn[j] = c
                r[j] = tc                           # tanh(c') for the backward pass
                hn[j] = a[3 * m + j] * tc


@jit
def backward(W_h, b_hn, A, R, H, C, dH, dA, dR, dW_h, db_hn, dh, dc):
    """Backpropagate dH[t] (the loss gradient w.r.t. H[t+1] from above) through the layer.

    Writes dA (gradient w.r.t. the gate pre-activations, i.e. the input projection) and
    dW_h; dh, dc are the (B, m) carries. dR and db_hn are unused (an LSTM's recurrent and
    input projections get the same gradient; it has no separate bias)."""
    T, B, G = A.shape
    m = G // 4
    one = A.dtype.type(1.0)
    for s in range(B):
        for j in range(m):
            dh[s, j] = 0.0
            dc[s, j] = 0.0
    for t in range(T - 1, -1, -1):
        at, dat, rt = A[t], dA[t], R[t]
        c_prev, dht = C[t], dH[t]
        for s in range(B):
            a, da, tanh_c = at[s], dat[s], rt[s]
            for j in range(m):
                i, f, g, o = a[j], a[m + j], a[2 * m + j], a[3 * m + j]
                tc = tanh_c[j]
                dhj = dht[s, j] + dh[s, j]
                dcj = dhj * o * (one - tc * tc) + dc[s, j]
                dc[s, j] = dcj * f
                da[j] = dcj * g * i * (one - i)
                da[m + j] = dcj * c_prev[s, j] * f * (one - f)
                da[2 * m + j] = dcj * i * (one - g * g)
                da[3 * m + j] = dhj * tc * o * (one - o)
        if t > 0:
            recurrent_t(dat, W_h, dh)                  # (B, 4m) @ (4m, m)
    T_B = T * B
    gemm(H[:T].reshape(T_B, m).T, dA.reshape(T_B, G), dW_h)

