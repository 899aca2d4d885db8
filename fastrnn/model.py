"""The kernels' interface: parameters, AdaGrad state and workspace as NamedTuples, built and
validated here, plus one chunk's forward/backward, an update and a text's loss for tests and tools.

Layout: every array a kernel touches is C-contiguous and ALIGN-byte aligned, and U (with its
AdaGrad G, best copy and gradient) is stored transposed, (K, m), so that the column of U a
character selects is one contiguous row (input term, gradient, AdaGrad and sampling alike).
`Params` in this layout is the one owner of a run's parameters (fastrnn.train.TrainState);
only checkpoint save/load and the public `Model.params` (fastrnn.trained) convert to the
course's shapes, U as (m, K).

Arguments are grouped into NamedTuples, which Numba compiles as plain tuples: they cost
nothing at run time, keep cache=True working, and make a misplaced argument a typing error.
The functions here accept either a Params or a dict in the course's shapes (as
fastrnn.reference does), which they convert.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import kernels
from .errors import FastrnnError


class Params(NamedTuple):
    """U, W, V, b, c in the kernels' layout (U stored as (K, m)); also the type of the AdaGrad
    accumulators G, the best-model snapshot and the gradients. A new parameter tensor is a new
    field here (and its maths in fastrnn.kernels).

    It also reads like the dict it replaced: p["W"], keys(), values(), items(); p["W"] = x and
    p["W"] += x write into the array, which is owned and never replaced."""

    U: np.ndarray    # (K, m): U transposed
    W: np.ndarray    # (m, m)
    V: np.ndarray    # (K, m)
    b: np.ndarray    # (m,)
    c: np.ndarray    # (K,)

    def __getitem__(self, key):
        return getattr(self, key) if isinstance(key, str) else tuple.__getitem__(self, key)

    def __setitem__(self, key: str, value) -> None:
        getattr(self, key)[...] = value

    def keys(self) -> tuple:
        return self._fields

    def values(self) -> tuple:
        return tuple(self)

    def items(self) -> tuple:
        return tuple(zip(self._fields, self))

    @classmethod
    def zeros(cls, vocab_size: int, hidden: int, dtype) -> "Params":
        return cls(*(aligned_zeros(s, dtype) for s in layout_shapes(vocab_size, hidden).values()))

    @classmethod
    def from_course(cls, params: dict) -> "Params":
        """Aligned copies of a dict in the course's shapes (U as (m, K)), validated."""
        check_params(params)
        return cls(*(aligned_copy(params[k].T if k in TRANSPOSED else params[k])
                     for k in cls._fields))

    def course(self) -> dict:
        """The course's view: a dict of views of these arrays, U as (m, K) (not contiguous)."""
        return {k: v.T if k in TRANSPOSED else v for k, v in self.items()}

    def copy(self) -> "Params":
        return Params(*(aligned_copy(v) for v in self))


PARAM_NAMES = Params._fields
TRANSPOSED = ("U",)      # stored transposed in the kernels' layout


class Workspace(NamedTuple):
    """Every scratch array of one chunk's forward/backward, allocated once."""

    H: np.ndarray      # (tau+1, m) hidden states, H[0] = hprev
    P: np.ndarray      # (tau, K) probabilities, then output gradients
    DH: np.ndarray     # (tau, m) gradient w.r.t. h_t
    dA: np.ndarray     # (tau, m) gradient w.r.t. a_t
    mark: np.ndarray   # (K,) bool, columns of U seen in a chunk
    grads: Params      # the gradients of one chunk (dU only in the rows of its characters)

    @classmethod
    def allocate(cls, vocab_size: int, hidden: int, seq_length: int, dtype) -> "Workspace":
        z = lambda *shape: aligned_zeros(shape, dtype)  # noqa: E731
        return cls(H=z(seq_length + 1, hidden), P=z(seq_length, vocab_size),
                   DH=z(seq_length, hidden), dA=z(seq_length, hidden),
                   mark=np.zeros(vocab_size, np.bool_),
                   grads=Params.zeros(vocab_size, hidden, dtype))


class Schedule(NamedTuple):
    """The text and its chunks: chunk k is X = ids[starts[k]:starts[k]+lengths[k]], Y = X
    shifted by one; resets[k] zeroes the hidden state before it."""

    ids: np.ndarray       # int32 character ids
    starts: np.ndarray    # int64
    lengths: np.ndarray   # int64
    resets: np.ndarray    # bool

    @classmethod
    def one_chunk(cls, ids: np.ndarray) -> "Schedule":
        """ids[:-1] -> ids[1:] as a single chunk, hidden state as given."""
        return cls(ids, np.zeros(1, np.int64), np.array([ids.size - 1], np.int64),
                   np.zeros(1, np.bool_))


class Hyper(NamedTuple):
    """The AdaGrad scalars, in the parameters' dtype so float32 updates stay in float32 lanes."""

    eta: np.floating
    clip: np.floating
    eps: np.floating

    @classmethod
    def of(cls, eta: float, clip: float, eps: float, dtype) -> "Hyper":
        t = np.dtype(dtype).type
        return cls(t(eta), t(clip), t(eps))


class Trainee(NamedTuple):
    """What a training block updates in place, besides the counters."""

    params: Params
    G: Params                  # AdaGrad accumulators
    best: Params               # parameters before the update with the lowest smooth loss
    hprev: np.ndarray          # (m,) hidden state carried from chunk to chunk
    best_hprev: np.ndarray     # (m,) hidden state at the start of the best update's chunk
    loss: np.ndarray           # (updates,) float64 loss of each update
    smooth: np.ndarray         # (updates,) float64 smooth loss after each update


# The run counters of a training block: a one-element structured array, read and written by
# name in the kernel (numba records write through to the array).
COUNTERS = np.dtype([("update", np.int64),        # updates done
                     ("chunk", np.int64),         # next chunk of the schedule
                     ("chars", np.int64),         # characters trained on (sum of chunk lengths)
                     ("best_update", np.int64),
                     ("best_x0", np.int64),       # first character of the best update's chunk
                     ("smooth", np.float64),      # smooth loss
                     ("best_smooth", np.float64)])


def param_shapes(vocab_size: int, hidden: int) -> dict:
    """The shape of each parameter as the course has it (U is (m, K))."""
    return {"U": (hidden, vocab_size), "W": (hidden, hidden), "V": (vocab_size, hidden),
            "b": (hidden,), "c": (vocab_size,)}


def layout_shapes(vocab_size: int, hidden: int) -> dict:
    """The shape of each parameter in the kernels' layout (U stored as (K, m))."""
    return {k: s[::-1] if k in TRANSPOSED else s
            for k, s in param_shapes(vocab_size, hidden).items()}


def init_params(vocab_size: int, hidden: int, sig: float, seed: int, dtype="float64") -> dict:
    """U, W, V ~ N(0, sig^2) drawn in that order from default_rng(seed) in float64, b = c = 0,
    in the course's shapes."""
    rng = np.random.default_rng(seed)
    out = {k: sig * rng.standard_normal(shape) if k in "UWV" else np.zeros(shape)
           for k, shape in param_shapes(vocab_size, hidden).items()}
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in out.items()}


def check_params(params: dict, vocab_size: int | None = None) -> tuple[int, int, np.dtype]:
    """Validate names, shapes (the course's) and dtypes; return (K, m, dtype). Errors say
    expected vs got."""
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


def check_layout(p: Params) -> tuple[int, int, np.dtype]:
    """Validate a Params (shapes in the kernels' layout, one float dtype, C-contiguous: the
    kernels do no bounds checks); return (K, m, dtype)."""
    K, m = p.U.shape if p.U.ndim == 2 else (None, None)
    dtype = p.U.dtype
    if K is None or dtype not in (np.float32, np.float64):
        raise FastrnnError(f"U: expected a 2-d float array, got {p.U.ndim}-d {dtype}")
    for k, shape in layout_shapes(K, m).items():
        a = p[k]
        if a.shape != shape or a.dtype != dtype or not a.flags.c_contiguous:
            raise FastrnnError(f"{k}: expected a C-contiguous {dtype} array of shape {shape}, "
                               f"got {a.dtype} {a.shape}")
    return K, m, np.dtype(dtype)


def as_params(params) -> Params:
    """A Params as is (validated), or one converted from a dict in the course's shapes."""
    if isinstance(params, Params):
        check_layout(params)
        return params
    return Params.from_course(params)


ALIGN = 64   # bytes: a cache line, and the width of an AVX-512 load


def aligned_zeros(shape, dtype) -> np.ndarray:
    """A zeroed C-contiguous array whose data starts on an ALIGN-byte boundary.

    Why: NumPy only guarantees 16-byte alignment, and with W 16 bytes off a cache line every
    vector load of the recurrent mat-vecs straddles two lines, which made the update ~20%
    slower and throughput vary from one run to the next."""
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


def loss_and_grads(params, xs, ys, hprev, ws: Workspace | None = None):
    """Kernel forward/backward of one chunk: (loss, grads (fresh copies), new hidden state).

    Same contract as fastrnn.reference.loss_and_grads (grads in the course's shapes), for
    tests and the gradient check."""
    p = as_params(params)
    K, m, dtype = check_layout(p)
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
    ws.grads.U[...] = 0       # the kernel writes dU only in the rows of the chunk's characters
    loss = kernels.forward_backward(p, ws, Schedule.one_chunk(ids), 0,
                                    np.ascontiguousarray(hprev, dtype))
    return float(loss), {k: v.copy() for k, v in ws.grads.course().items()}, ws.H[n].copy()


def adagrad_update(params, grads, mem, eta: float, clip: float, eps: float):
    """Kernel clip + AdaGrad over every parameter, in place (dense: any gradient). Any
    matching layout: the update is elementwise."""
    h = Hyper.of(eta, clip, eps, params["U"].dtype)
    for k in PARAM_NAMES:
        theta, G = params[k], mem[k]
        if not (theta.flags.c_contiguous and G.flags.c_contiguous):
            raise FastrnnError(f"{k}: parameters and G must be C-contiguous (updated in place)")
        kernels.adagrad_dense(theta.reshape(-1), G.reshape(-1),
                              np.ascontiguousarray(grads[k]).reshape(-1), h,
                              theta.reshape(-1), False)


def sequence_loss(params, ids: np.ndarray, resets: np.ndarray | None = None):
    """(total loss in nats, number of predictions) of a text under the model, forward only."""
    p = as_params(params)
    ids = np.ascontiguousarray(ids, np.int32)
    if resets is None:
        resets = np.zeros(ids.size, np.bool_)
    total, count = kernels.sequence_loss(p, ids, np.ascontiguousarray(resets, np.bool_))
    return float(total), int(count)
