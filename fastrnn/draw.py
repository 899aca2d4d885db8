"""Drawing the next character from the output layer's logits: one copy for both engines.

softmax_t turns a logit row into probabilities at a temperature; inverse_cdf draws from them
at a uniform the caller supplies (so the caller's RNG decides every draw, and a seed makes a
sample reproducible); nucleus does the same inside the smallest most-likely set of mass >=
top_p. They are inlined into the sampling kernels (fastrnn.kernels for the DD2424 engine,
fastrnn.network_kernels for the general one); nucleus sorts with np.argsort, slow to compile,
so only kernels that sample with top_p < 1 call it.
"""
from __future__ import annotations

import numpy as np

from .jit import jit_inline


@jit_inline
def softmax_t(o, mx, temperature):
    """o <- softmax(o / temperature) in place, given mx = max o (temperature > 0)."""
    tot = 0.0
    for k in range(o.size):
        o[k] = np.exp((o[k] - mx) / temperature)
        tot += o[k]
    for k in range(o.size):
        o[k] /= tot


@jit_inline
def inverse_cdf(prob, u):
    """The first k with prob[0] + ... + prob[k] > u (u in [0, 1)); the last id if rounding
    leaves the total below u."""
    acc = 0.0
    for k in range(prob.size):
        acc += prob[k]
        if u < acc:
            return k
    return prob.size - 1


@jit_inline
def nucleus(prob, u, top_p):
    """inverse_cdf restricted to the smallest most-likely set of mass >= top_p: the ids in
    decreasing probability, the draw at u times the kept mass."""
    K = prob.size
    order = np.argsort(-prob)
    mass = 0.0
    keep = K
    for rank in range(K):
        mass += prob[order[rank]]
        if mass >= top_p:
            keep = rank + 1
            break
    u = u * mass                        # draw inside the kept mass
    acc = 0.0
    for rank in range(keep):
        acc += prob[order[rank]]
        if u < acc:
            return order[rank]
    return order[keep - 1]
