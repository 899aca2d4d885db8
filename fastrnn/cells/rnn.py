"""Vanilla tanh RNN layer (DD2424 / torch.nn.RNN(nonlinearity='tanh')) over a (T, B) chunk.

  h' = tanh(x W_x + h W_h + b)
With one layer this is the course's model: W_x = U^T (K, m), W_h = W^T, b = b; the output
layer's W_y = V^T, b_y = c. Init as DD2424: weights N(0, sig^2), b = 0 (drawn in torch's
orientation, so layer 1's draws are U then W, and a 1-layer network's init equals
fastrnn.reference.init_params with the same seed).

Workspace use for one layer: A[t] (B, m) holds the input projection on entry and the
pre-activation on exit; R[t] is the recurrent product's scratch. The backward pass needs
only H.
"""
from __future__ import annotations

import numpy as np

from ..jit import jit
from ..vecmath import _tanh
from .common import gemm, recurrent, recurrent_t

GATES = 1
STATES = 1


def init_weight(rng: np.random.Generator, shape: tuple, hidden: int, sig: float) -> np.ndarray:
    """A weight matrix in torch's orientation (out, in), N(0, sig^2) as DD2424."""
    return sig * rng.standard_normal(shape)


def init_bias(b: np.ndarray, b_hn: np.ndarray, hidden: int) -> None:
    b[...] = 0.0


@jit
def forward(W_h, b_hn, A, R, H, C):
    """Run the layer over T steps from H[0]; fills H[1..T] and A."""
    T, B, m = A.shape
    for t in range(T):
        at, rt = A[t], R[t]
        recurrent(H[t], W_h, rt)
        fa, fr, fh = at.reshape(-1), rt.reshape(-1), H[t + 1].reshape(-1)
        for i in range(fa.size):
            v = fa[i] + fr[i]
            fa[i] = v
            fh[i] = _tanh(v)


@jit
def backward(W_h, b_hn, A, R, H, C, dH, dA, dR, dW_h, db_hn, dh, dc):
    """Backpropagate dH[t] (gradient w.r.t. H[t+1] from above); writes dA (w.r.t. the
    pre-activation) and dW_h; dh is the (B, m) carry. dR, db_hn, dc are unused."""
    T, B, m = A.shape
    for s in range(B):
        for j in range(m):
            dh[s, j] = 0.0
    for t in range(T - 1, -1, -1):
        h, dat, dht = H[t + 1], dA[t], dH[t]
        for s in range(B):
            for j in range(m):
                d = dht[s, j] + dh[s, j]
                dat[s, j] = d - h[s, j] * h[s, j] * d
        if t > 0:
            recurrent_t(dat, W_h, dh)
    T_B = T * B
    gemm(H[:T].reshape(T_B, m).T, dA.reshape(T_B, m), dW_h)

