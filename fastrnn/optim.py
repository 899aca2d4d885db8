"""Clip + AdaGrad / RMSprop / Adam over flat parameter buffers, one loop each (docs/models.md).

Every parameter of a network lives in one flat buffer `theta`; its gradient, the optimizer's
two moment buffers and the best-model snapshot have the same layout, so an update is one pass
over memory. Each element's gradient is clipped to [-clip, clip] first, for every optimizer.

- adagrad (DD2424 / min-char-rnn): G += g^2 ; theta -= eta g / sqrt(G + eps)   (eps inside)
- rmsprop (char-rnn):  G = alpha G + (1 - alpha) g^2 ; theta -= eta g / (sqrt(G) + eps)
- adam (torch.optim.Adam): m = lerp(m, g, 1 - beta1), v = beta2 v + (1 - beta2) g^2,
  theta -= (eta / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps), t counting from 1
  (torch's order of operations except one division: see adam).

`moments` is (2, N): row 0 is Adam's first moment (unused otherwise), row 1 the accumulator
of squared gradients (AdaGrad's G, RMSprop's G, Adam's v). With `save`, `best` first receives
theta's pre-update values: the best-model snapshot rides on the same pass.
Hyper-parameters arrive cast to theta's dtype, so float32 stays in float32 lanes.
"""
from __future__ import annotations

import numpy as np

from .jit import jit, jit_inline

ADAGRAD, RMSPROP, ADAM = 0, 1, 2
OPTIMIZERS = {"adagrad": ADAGRAD, "rmsprop": RMSPROP, "adam": ADAM}


@jit_inline
def _clip(g, clip):
    return min(max(g, -clip), clip)


@jit
def adagrad(theta, grad, moments, eta, clip, eps, best, save):
    G = moments[1]
    for i in range(theta.size):
        if save:
            best[i] = theta[i]
        d = _clip(grad[i], clip)
        G[i] += d * d
        theta[i] -= eta * d / np.sqrt(G[i] + eps)


@jit
def rmsprop(theta, grad, moments, eta, clip, eps, alpha, best, save):
    G = moments[1]
    one = theta.dtype.type(1.0)
    for i in range(theta.size):
        if save:
            best[i] = theta[i]
        d = _clip(grad[i], clip)
        G[i] = alpha * G[i] + (one - alpha) * d * d
        theta[i] -= eta * d / (np.sqrt(G[i]) + eps)


@jit
def adam(theta, grad, moments, eta, clip, eps, beta1, beta2, step, best, save):
    """One Adam step; `step` is t >= 1 (the number of this update, counting from 1)."""
    M, V = moments[0], moments[1]
    T = theta.dtype.type
    # torch computes the bias corrections in Python floats (double), then casts once
    step_size = T(eta / (1.0 - float(beta1) ** step))
    # one division per element, not torch's two (sqrt(v) / correction, then m / denominator):
    # sqrt and division share one slow unit, and the second division made Adam ~30% slower
    # (a quarter of a batch-1 update). The results differ from torch's in the last bit only.
    inv_correction2_sqrt = T(1.0 / np.sqrt(1.0 - float(beta2) ** step))
    w1 = T(1.0 - float(beta1))
    w2 = T(1.0 - float(beta2))
    for i in range(theta.size):
        if save:
            best[i] = theta[i]
        d = _clip(grad[i], clip)
        M[i] += w1 * (d - M[i])              # torch's lerp for a weight < 0.5
        V[i] = V[i] * beta2 + w2 * d * d
        theta[i] -= step_size * M[i] / (np.sqrt(V[i]) * inv_correction2_sqrt + eps)


@jit
def update(kind, theta, grad, moments, hp, step, best, save):
    """Dispatch on kind (ADAGRAD, RMSPROP, ADAM); hp has eta, clip, eps, alpha, beta1, beta2."""
    if kind == ADAGRAD:
        adagrad(theta, grad, moments, hp.eta, hp.clip, hp.eps, best, save)
    elif kind == RMSPROP:
        rmsprop(theta, grad, moments, hp.eta, hp.clip, hp.eps, hp.alpha, best, save)
    else:
        adam(theta, grad, moments, hp.eta, hp.clip, hp.eps, hp.beta1, hp.beta2, step, best, save)
