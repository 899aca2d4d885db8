"""Plain NumPy clip + AdaGrad / RMSprop / Adam over dicts of arrays (oracle of fastrnn.optim).

Every gradient element is clipped to [-clip, clip] first. moments is {"m": {...}, "v": {...}}
with arrays like params ("v" is AdaGrad's and RMSprop's G, Adam's second moment).
"""
from __future__ import annotations

import numpy as np


def update(kind, params, grads, moments, step, eta, clip, eps, alpha=0.95, beta1=0.9,
           beta2=0.999):
    """One update of every parameter, in place; step is Adam's t (counting from 1)."""
    for k in params:
        g = np.clip(grads[k], -clip, clip)
        M, V = moments["m"][k], moments["v"][k]
        if kind == "adagrad":
            V += g * g
            params[k] -= eta * g / np.sqrt(V + eps)
        elif kind == "rmsprop":
            V[...] = alpha * V + (1 - alpha) * g * g
            params[k] -= eta * g / (np.sqrt(V) + eps)
        elif kind == "adam":
            M += (1 - beta1) * (g - M)
            V[...] = beta2 * V + (1 - beta2) * g * g
            m_hat = M / (1 - beta1 ** step)
            v_hat = V / (1 - beta2 ** step)
            params[k] -= eta * m_hat / (np.sqrt(v_hat) + eps)
        else:
            raise ValueError(f"unknown optimizer {kind!r}")
