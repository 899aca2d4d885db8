"""Plain NumPy network (cell x L layers + softmax output): the oracle of fastrnn.network.

Min-char-rnn style: one stream at a time, one step at a time, explicit one-hot inputs.
Parameters are a dict with fastrnn.network's names (l1.W_x, l1.W_h, l1.b, [l1.b_hn], ...,
W_y, b_y); states are arrays (L, B, m) of h (and c for a cell with two states).

Per-record training (record mode): a target -1 is padding, and a stream's padding comes after
its valid steps, so a stream here simply stops at its first -1: no loss, no gradient, and its
final state is the one after its last valid step. The training loop takes a record table
(fastrnn.streams.record_table) and starts a stream from 0 where a record starts or it is idle.
"""
from __future__ import annotations

import numpy as np

from ..cells import CELLS
from . import optim

LAYER_KEYS = ("W_x", "W_h", "b", "b_hn")


def splitmix64(x):
    """splitmix64 of a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def dropout_mask(seed, update, layer, T, B, m, p):
    """(T, B, m): 1/(1-p) for kept units, 0 for dropped: unit j of stream s at step t is kept
    iff the top 53 bits of splitmix64(key(t) ^ (s*m + j)), as a uniform in [0, 1), are >= p,
    with key(t) = splitmix64(splitmix64(splitmix64(seed) ^ update) ^ (layer << 32 | t))."""
    k0 = splitmix64(splitmix64(np.array([seed], np.uint64)) ^ np.uint64(update))
    steps = np.arange(T, dtype=np.uint64)
    kt = splitmix64(k0 ^ ((np.uint64(layer) << np.uint64(32)) | steps))
    units = np.arange(B * m, dtype=np.uint64).reshape(B, m)
    bits = splitmix64(kt[:, None, None] ^ units[None])
    uniform = (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return np.where(uniform >= p, 1.0 / (1.0 - p), 0.0)


def layer_count(params):
    return sum(1 for k in params if k.endswith(".W_h"))


def layer_params(params, i):
    """Layer i's (1-based) parameters under the cell's short names."""
    return {k: params[f"l{i}.{k}"] for k in LAYER_KEYS if f"l{i}.{k}" in params}


def loss_and_grads(cell, params, X, Y, h0, c0=None, dropout=0.0, seed=0, update=0):
    """Loss (sum over steps, mean over streams), gradients (dict of the params' names) and final
    states (h, c) of chunk X, Y (T, B) from states h0, c0 (L, B, m). A stream stops at its
    first target -1 (padding: record mode); its final states are those after its last step."""
    ref = CELLS[cell].reference_module()
    L = layer_count(params)
    T, B = X.shape
    K, m = params["W_y"].shape[1], params["l1.W_h"].shape[0]
    masks = [dropout_mask(seed, update, layer, T, B, m, dropout) if dropout > 0 else np.ones((T, B, m))
             for layer in range(L)]
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    layer_grads = [{k: grads[f"l{i + 1}.{k}"] for k in LAYER_KEYS if f"l{i + 1}.{k}" in grads}
                   for i in range(L)]
    lp = [layer_params(params, i + 1) for i in range(L)]
    h_out, c_out = np.zeros((L, B, m)), np.zeros((L, B, m))
    loss = 0.0
    for s in range(B):
        state = [(h0[layer, s],) if ref.STATES == 1 else (h0[layer, s], c0[layer, s]) for layer in range(L)]
        caches, tops, probs = [], [], []
        steps = int(np.argmax(Y[:, s] < 0)) if np.any(Y[:, s] < 0) else T
        for t in range(steps):
            x = np.zeros(K)
            x[X[t, s]] = 1.0
            step_caches = []
            for layer in range(L):
                state[layer], cache = ref.step(lp[layer], x, state[layer])
                step_caches.append(cache)
                x = state[layer][0] * masks[layer][t, s]         # dropout on the next layer's input
            o = x @ params["W_y"] + params["b_y"]
            e = np.exp(o - np.max(o))
            p = e / np.sum(e)
            loss += -np.log(p[Y[t, s]])
            caches.append(step_caches)
            tops.append(x)
            probs.append(p)
        for layer in range(L):
            h_out[layer, s] = state[layer][0]
            if ref.STATES == 2:
                c_out[layer, s] = state[layer][1]
        dnext = [tuple(np.zeros(m) for _ in range(ref.STATES)) for _ in range(L)]
        for t in reversed(range(steps)):
            do = probs[t].copy()
            do[Y[t, s]] -= 1.0
            do /= B                                      # mean over streams
            grads["W_y"] += np.outer(tops[t], do)
            grads["b_y"] += do
            dx = params["W_y"] @ do
            for layer in reversed(range(L)):
                dh = dx * masks[layer][t, s] + dnext[layer][0]
                dstate = (dh,) + tuple(dnext[layer][1:])
                dx, dnext[layer] = ref.step_backward(lp[layer], caches[t][layer], dstate, layer_grads[layer])
    return loss / B, grads, h_out, c_out


def new_moments(params):
    return {"m": {k: np.zeros_like(v) for k, v in params.items()},
            "v": {k: np.zeros_like(v) for k, v in params.items()}}


def train(cell, params, ids, streams, seq_length, n_updates, optimizer="adagrad", eta=0.1,
          clip=5.0, eps=1e-8, alpha=0.95, beta1=0.9, beta2=0.999, dropout=0.0, seed=0,
          moments=None, table=None):
    """The training loop over the stream schedule, plainly: returns a dict with params (updated
    in place), moments, losses, smooths, final h, c, best (params before the best update), best
    update, best_h, best_c (stream 0's starting states) and best_x0. table: record mode's
    (starts, lengths, resets) of fastrnn.streams.record_table; default the strips."""
    L = layer_count(params)
    m = params["l1.W_h"].shape[0]
    B, T = streams, seq_length
    strip = len(ids) // B
    per_epoch = (strip - 1) // T if table is None else len(table[0])
    moments = moments or new_moments(params)
    h, c = np.zeros((L, B, m)), np.zeros((L, B, m))
    out = {"losses": [], "smooths": [], "best_smooth": np.inf}
    smooth = None
    for u in range(n_updates):
        k = u % per_epoch
        if table is None:
            if k == 0:
                h, c = np.zeros((L, B, m)), np.zeros((L, B, m))
            X = np.array([[ids[s * strip + k * T + t] for s in range(B)] for t in range(T)])
            Y = np.array([[ids[s * strip + k * T + t + 1] for s in range(B)] for t in range(T)])
        else:
            starts, lengths, resets = (np.asarray(a)[k] for a in table)
            for s in range(B):
                if resets[s] or lengths[s] == 0:          # a record starts, or idle
                    h[:, s], c[:, s] = 0.0, 0.0
            # padding: input the next character (the kernels' choice), target -1
            X = np.array([[ids[starts[s] + min(t, lengths[s])] for s in range(B)]
                          for t in range(T)])
            Y = np.array([[ids[starts[s] + t + 1] if t < lengths[s] else -1 for s in range(B)]
                          for t in range(T)])
        loss, grads, h_new, c_new = loss_and_grads(cell, params, X, Y, h, c, dropout, seed, u)
        smooth = loss if smooth is None else 0.999 * smooth + 0.001 * loss
        out["losses"].append(loss)
        out["smooths"].append(smooth)
        if smooth < out["best_smooth"]:
            out.update(best_smooth=smooth, best_update=u, best_x0=X[0, 0],
                       best={k_: v.copy() for k_, v in params.items()},
                       best_h=h[:, 0].copy(), best_c=c[:, 0].copy())
        optim.update(optimizer, params, grads, moments, u + 1, eta, clip, eps, alpha, beta1, beta2)
        h, c = h_new, c_new
    out.update(params=params, moments=moments, h=h, c=c)
    return out


def top_states(cell, params, X, h0, c0=None):
    """The top layer's hidden state after every step, (T, B, m), no dropout, in the
    parameters' dtype."""
    ref = CELLS[cell].reference_module()
    L = layer_count(params)
    T, B = X.shape
    K = params["W_y"].shape[1]
    dtype = params["W_y"].dtype
    lp = [layer_params(params, i + 1) for i in range(L)]
    out = np.zeros((T, B, params["W_y"].shape[0]), dtype)
    for s in range(B):
        state = [(h0[layer, s],) if ref.STATES == 1 else (h0[layer, s], c0[layer, s]) for layer in range(L)]
        for t in range(T):
            x = np.zeros(K, dtype)
            x[X[t, s]] = 1
            for layer in range(L):
                state[layer], _ = ref.step(lp[layer], x, state[layer])
                x = state[layer][0]
            out[t, s] = x
    return out


def output_loss(H, W_y, b_y, Y):
    """The chunk loss of top states H (T, B, m): summed over time, averaged over streams."""
    T, B = Y.shape
    loss = W_y.dtype.type(0)
    for s in range(B):
        for t in range(T):
            o = H[t, s] @ W_y + b_y
            mx = np.max(o)
            loss += -(o[Y[t, s]] - mx - np.log(np.sum(np.exp(o - mx))))
    return loss / B


def loss_only(cell, params, X, Y, h0, c0=None):
    """The chunk loss alone, no dropout, in the parameters' dtype (extended precision for the
    gradient check)."""
    return output_loss(top_states(cell, params, X, h0, c0), params["W_y"], params["b_y"], Y)
