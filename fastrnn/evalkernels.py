"""Numba kernel of the forward-only loss of a text, read in chunks (evaluation and validation).

It computes what the training forward pass computes -- the same recurrence, the same
vectorised tanh/exp (fastrnn.vecmath) and the logits of a whole chunk as one BLAS product --
without the backward pass, so scoring a text runs at least at training speed. One element-wise
np.exp/np.tanh per step and a mat-vec per logit row, as a step-by-step loop needs, made
`eval` of a 1.1M-character book slower than a training epoch.

The text is given as a chunk schedule (fastrnn.data.chunk_schedule): chunk k predicts
ids[s+1 : s+n+1] from ids[s : s+n] (s, n = starts[k], lengths[k]); the hidden state is carried
from one chunk to the next and restarts at 0 where resets[k]. With state carried, the length of
the chunks changes nothing but speed.
"""
from __future__ import annotations

import numpy as np
from .cells.common import gemm as _gemm
from .jit import jit as _jit
from .kernels import _exp_row, _matvec_add
from .vecmath import _vtanh


@_jit
def _chunk_losses(UT, W, V, b, c, ids, starts, lengths, resets, hprev, H, P, A, out):
    """out[k] = summed -log p of chunk k's targets (nats). hprev is the state before the first
    chunk and holds the state after the last one on return. U is passed transposed, (K, m),
    as in fastrnn.kernels. Scratch: H (T+1, m), P (T, K), A (T, m) with T >= every length."""
    m = W.shape[0]
    for k in range(starts.size):
        s, n = starts[k], lengths[k]
        if resets[k]:
            for i in range(m):
                H[0, i] = 0.0
        else:
            for i in range(m):
                H[0, i] = hprev[i]
        # a_t = W h_{t-1} + U x_t + b ; h_t = tanh(a_t)   (the only sequential part)
        for t in range(n):
            _matvec_add(W, H[t], UT, ids[s + t], b, A[t])
            _vtanh(A[t], H[t + 1])
        On = P[:n]
        _gemm(H[1:n + 1], V.T, On)
        loss = 0.0
        for t in range(n):
            tot, oy = _exp_row(On[t], c, ids[s + t + 1])
            loss += np.log(tot) - oy    # -log softmax(o)[y] = log sum exp(o - mx) - (o_y - mx)
        out[k] = loss
        for i in range(m):
            hprev[i] = H[n, i]
