"""Model parameters, AdaGrad state and the preallocated workspace the kernels write into.

This is the plain-Python layer over fastrnn.kernels: it validates shapes and dtypes once,
allocates every array the kernels need, and exposes one chunk's forward/backward and update
for tests and tools. The training loop (fastrnn.train) calls the block kernel directly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels
from .errors import FastrnnError

PARAM_NAMES = ("U", "W", "V", "b", "c")


def param_shapes(vocab_size: int, hidden: int) -> dict:
    """The shape of each parameter, with the course's names."""
    return {"U": (hidden, vocab_size), "W": (hidden, hidden), "V": (vocab_size, hidden),
            "b": (hidden,), "c": (vocab_size,)}


def init_params(vocab_size: int, hidden: int, sig: float, seed: int, dtype="float64") -> dict:
    """U, W, V ~ N(0, sig^2) drawn in that order from default_rng(seed) in float64, b = c = 0."""
    rng = np.random.default_rng(seed)
    out = {k: sig * rng.standard_normal(shape) if k in "UWV" else np.zeros(shape)
           for k, shape in param_shapes(vocab_size, hidden).items()}
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in out.items()}


def check_params(params: dict, vocab_size: int | None = None) -> tuple[int, int, np.dtype]:
    """Validate names, shapes and dtypes; return (K, m, dtype). Errors say expected vs got."""
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise FastrnnError(f"missing parameters: {', '.join(missing)}")
    m, K = params["U"].shape if params["U"].ndim == 2 else (None, None)
    if m is None:
        raise FastrnnError(f"U: expected 2 dimensions, got {params['U'].ndim}")
    if vocab_size is not None and K != vocab_size:
        raise FastrnnError(f"U: expected {vocab_size} columns (vocabulary size), got {K}")
    dtype = params["U"].dtype
    if dtype not in (np.float32, np.float64):
        raise FastrnnError(f"parameters: expected float32 or float64, got {dtype}")
    for k, shape in param_shapes(K, m).items():
        arr = params[k]
        if arr.shape != shape:
            raise FastrnnError(f"{k}: expected shape {shape}, got {arr.shape}")
        if arr.dtype != dtype:
            raise FastrnnError(f"{k}: expected dtype {dtype}, got {arr.dtype}")
    return K, m, np.dtype(dtype)


@dataclass
class Workspace:
    """Every scratch array of one chunk's forward/backward, allocated once."""

    H: np.ndarray    # (tau+1, m) hidden states, H[0] = hprev
    P: np.ndarray    # (tau, K) probabilities, then output gradients
    DH: np.ndarray   # (tau, m) gradient w.r.t. h_t
    dA: np.ndarray   # (tau, m) gradient w.r.t. a_t
    bits: np.ndarray  # (max(m, K),) integer scratch of the vectorised exp/tanh
    mark: np.ndarray  # (K,) bool, columns of U seen in a chunk
    grads: dict      # dU, dW, dV, db, dc as "U".. "c"

    @classmethod
    def allocate(cls, vocab_size: int, hidden: int, seq_length: int, dtype) -> "Workspace":
        z = lambda *shape: aligned_zeros(shape, dtype)  # noqa: E731
        grads = {k: z(*s) for k, s in param_shapes(vocab_size, hidden).items()}
        return cls(H=z(seq_length + 1, hidden), P=z(seq_length, vocab_size),
                   DH=z(seq_length, hidden), dA=z(seq_length, hidden),
                   bits=np.zeros(max(hidden, vocab_size),
                                 np.int32 if np.dtype(dtype) == np.float32 else np.int64),
                   mark=np.zeros(vocab_size, np.bool_), grads=grads)


ALIGN = 64   # bytes: a cache line, and the width of an AVX-512 load


def aligned_zeros(shape, dtype) -> np.ndarray:
    """A zeroed C-contiguous array whose data starts on an ALIGN-byte boundary.

    Why: NumPy only guarantees 16-byte alignment, and with W 16 bytes off a cache line every
    vector load of the recurrent mat-vecs straddles two lines: measured 48 us instead of 39 us
    per update (float64, m=100), which made throughput vary ~10% from one run to the next."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    raw = np.zeros(n * dtype.itemsize + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + n * dtype.itemsize].view(dtype).reshape(shape)


def aligned_copy(a: np.ndarray) -> np.ndarray:
    """An ALIGN-byte aligned C-contiguous copy of a."""
    out = aligned_zeros(a.shape, a.dtype)
    out[...] = a
    return out


def transposed(a: np.ndarray) -> np.ndarray:
    """An aligned C-contiguous copy of a.T: the training kernels keep U as (K, m), so that the
    column of U a character selects is one contiguous row (input term, gradient and AdaGrad)."""
    return aligned_copy(a.T)


def loss_and_grads(params: dict, xs, ys, hprev, ws: Workspace | None = None):
    """Kernel forward/backward of one chunk: (loss, grads (fresh copies), new hidden state).

    Same contract as fastrnn.reference.loss_and_grads, for tests and the gradient check."""
    K, m, dtype = check_params(params)
    xs = np.asarray(xs, np.int32)
    n = xs.size
    if np.asarray(ys).size != n or n < 1:
        raise FastrnnError(f"chunk: expected {n} >= 1 targets, got {np.asarray(ys).size}")
    ids = np.empty(n + 1, np.int32)
    ids[:n] = xs
    ids[n] = np.asarray(ys, np.int32)[-1]
    if not np.array_equal(ids[1:], np.asarray(ys, np.int32)):
        raise FastrnnError("chunk: ys must be xs shifted by one character")
    ws = ws or Workspace.allocate(K, m, n, dtype)
    g = ws.grads
    dUT = np.zeros((K, m), dtype)                 # the kernels take U transposed
    loss = kernels._forward_backward(transposed(params["U"]), params["W"], params["V"],
                                     params["b"], params["c"], ids, 0, n,
                                     np.asarray(hprev, dtype), ws.H, ws.P, ws.DH, ws.dA,
                                     ws.bits, dUT, g["W"], g["V"], g["b"], g["c"])
    g["U"][...] = dUT.T
    return float(loss), {k: v.copy() for k, v in g.items()}, ws.H[n].copy()


def adagrad_update(params: dict, grads: dict, mem: dict, eta: float, clip: float, eps: float):
    """Kernel clip + AdaGrad over every parameter, in place (dense: any gradient)."""
    t = params["U"].dtype.type     # scalars in the parameters' dtype, as the training path
    for k in PARAM_NAMES:
        kernels._adagrad_dense(params[k], mem[k], grads[k], t(eta), t(clip), t(eps),
                                params[k], False)


def sequence_loss(params: dict, ids: np.ndarray, resets: np.ndarray | None = None):
    """(total loss in nats, number of predictions) of a text under the model, forward only."""
    K, m, dtype = check_params(params)
    ids = np.ascontiguousarray(ids, np.int32)
    if resets is None:
        resets = np.zeros(ids.size, np.bool_)
    counts = np.zeros(1, np.int64)
    h, a, o = np.zeros(m, dtype), np.zeros(m, dtype), np.zeros(K, dtype)
    total = kernels._sequence_loss(params["U"], params["W"], params["V"], params["b"],
                                   params["c"], ids, resets, h, a, o, counts)
    return float(total), int(counts[0])
