"""The network (cell x L layers + softmax output layer): one owner of the parameters, their
gradient, optimizer state and best-model snapshot (four buffers of one flat layout), and the
plain-Python entry to the compiled kernels of fastrnn.network_kernels.

    net = Network("lstm", vocab_size=K, hidden=100, layers=2, dtype="float32")
    net.init(seed=0)
    ws = net.workspace(seq_length=25, streams=32, dropout=0.0)
    hp = net.hyper("adam", eta=2e-3, dropout=0.0)
    run = net.new_run(streams=32, capacity=1000)
    done = net.train_block(ids, run, ws, hp, n_updates=1000)   # run.losses[:done] ...
    done = net.train_block(ids, run, ws, hp, n_updates=1000, threads=2)   # both cores

Streams in groups (B >= 2): an update's B streams are split into stream_groups(B) groups, a
number that depends on B only. Each group computes the loss and gradient of its streams into
a buffer of its own (network_kernels.stream_group), and network_kernels.finish_update sums
the buffers in group order before the optimizer. `threads` only decides how many groups run
at once, so a run is bit-identical for any thread count. The groups run on a Python thread
pool (the kernels release the GIL) rather than Numba's prange: the pool's size is the
caller's argument whatever NUMBA_NUM_THREADS says or which threading layer is installed, the
kernels stay ordinary cached functions (no parallel=True compile), and the Python overhead
is one call per group and update (B >= 2 updates take milliseconds). BLAS is held at one
thread per compute thread meanwhile (fastrnn.threads.engine_threads). B = 1 stays one
compiled loop on one core.

Parameter names (Layout.names): per layer i = 1..L `l{i}.W_x` (n_in, G m), `l{i}.W_h`
(m, G m), `l{i}.b` (G m,), for GRU `l{i}.b_hn` (m,); then `W_y` (m, K), `b_y` (K,).
Layer 1's n_in is K (its input is one-hot). Weights are the transposes of torch's
(weight_ih_l{i-1} = W_x.T, weight_hh = W_h.T, Linear.weight = W_y.T) and, for the vanilla cell
with one layer, of DD2424's (U = W_x.T, W = W_h.T, V = W_y.T, b = b, c = b_y).

The full training state of a run: net.theta, net.moments, net.best and the Run arrays
(h, c, best_h, best_c, fstate, istate); the Hyper values and the stream count.
"""
from __future__ import annotations

import numpy as np

import threading
from concurrent.futures import ThreadPoolExecutor

from . import optim, streams
from .cells import CELLS, CellInfo
from .errors import FastrnnError
from .model import aligned_zeros
from .network_kernels import BEST_SMOOTH, ENTRIES, Flat, Hyper, Params, Run, Schedule, Workspace
from .threads import engine_threads

# each tensor starts on a multiple of 16 elements: 64 bytes (a cache line) in float32
_ALIGN_ELEMENTS = 16


# streams per group that a thread handles well on its own: larger B gets more groups
_GROUP_STREAMS = 32

# steps of one forward pass when a text is scored (eval, validation): long enough that the
# GEMMs over the chunk pay for their calls, short enough that the workspace stays in cache.
# A power of two: shorter remainders take workspaces of 64, 32, ..., 1 steps
EVAL_STEPS = 128


def stream_groups(streams: int) -> list[tuple[int, int]]:
    """(first stream, streams) of each group of an update's streams: one group for B = 1,
    else max(2, B // 32) groups (at most B) of near-equal size. Depends on B only: the sum of
    the groups' gradients, and so a run, must not depend on the number of threads."""
    n = 1 if streams < 2 else min(streams, max(2, streams // _GROUP_STREAMS))
    base, extra = divmod(streams, n)
    out, first = [], 0
    for g in range(n):
        count = base + (1 if g < extra else 0)
        out.append((first, count))
        first += count
    return out


_POOLS: dict = {}
_POOLS_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of `workers` threads (created once per size)."""
    with _POOLS_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="fastrnn")
        return _POOLS[workers]


class _Groups:
    """Scratch of the stream groups of one (seq_length, streams, dropout): a workspace and a
    gradient buffer (a row of `grads`, in the network's flat layout) per group, and the final
    states of the update."""

    def __init__(self, net: Network, T: int, B: int, dropout: bool):
        self.spans = stream_groups(B)
        self.ws = [net.workspace(T, count, dropout) for _, count in self.spans]
        self.grads = aligned_zeros((len(self.spans), net.layout.size), net.dtype)
        self.views = [net.layout.views(row) for row in self.grads]
        mc = net.hidden if net.info.states == 2 else 0
        self.next_h = aligned_zeros((net.layers, B, net.hidden), net.dtype)
        self.next_c = aligned_zeros((net.layers, B, mc), net.dtype)


class Layout:
    """Where each stacked tensor lives in a flat buffer, and the per-layer names over them."""

    FIELDS = Params._fields

    def __init__(self, cell: CellInfo, vocab_size: int, hidden: int, layers: int):
        K, m, L, G = vocab_size, hidden, layers, cell.gates * hidden
        self.shapes = {"W_x1": (K, G), "W_xs": (L - 1, m, G), "W_h": (L, m, G), "b": (L, G),
                       "b_hn": (L, m if cell.has_b_hn else 0), "W_y": (m, K), "b_y": (K,)}
        self.offsets = {}
        offset = 0
        for name in self.FIELDS:
            self.offsets[name] = offset
            n = int(np.prod(self.shapes[name]))
            offset += -(-n // _ALIGN_ELEMENTS) * _ALIGN_ELEMENTS
        self.size = offset
        self.layers, self.has_b_hn = L, cell.has_b_hn

    def views(self, flat: np.ndarray) -> Params:
        """The stacked tensors as views of flat (writes go through)."""
        out = []
        for name in self.FIELDS:
            shape = self.shapes[name]
            start = self.offsets[name]
            out.append(flat[start:start + int(np.prod(shape))].reshape(shape))
        return Params(*out)

    def names(self) -> list[str]:
        """Per-layer parameter names, in layer order then W_y, b_y."""
        out = []
        for i in range(1, self.layers + 1):
            out += [f"l{i}.W_x", f"l{i}.W_h", f"l{i}.b"] + ([f"l{i}.b_hn"] if self.has_b_hn else [])
        return out + ["W_y", "b_y"]

    def named(self, flat: np.ndarray) -> dict:
        """{name: view of flat} for every name of names()."""
        p = self.views(flat)
        out = {}
        for i in range(self.layers):
            out[f"l{i + 1}.W_x"] = p.W_x1 if i == 0 else p.W_xs[i - 1]
            out[f"l{i + 1}.W_h"] = p.W_h[i]
            out[f"l{i + 1}.b"] = p.b[i]
            if self.has_b_hn:
                out[f"l{i + 1}.b_hn"] = p.b_hn[i]
        out["W_y"], out["b_y"] = p.W_y, p.b_y
        return out


class Network:
    """cell x layers + output layer over flat buffers theta, grad, moments (2, N), best."""

    def __init__(self, cell: str, vocab_size: int, hidden: int = 100, layers: int = 1,
                 dtype="float64"):
        if cell not in CELLS:
            raise FastrnnError(f"cell: expected one of {', '.join(CELLS)}, got {cell!r}")
        if vocab_size < 1 or hidden < 1 or layers < 1:
            raise FastrnnError(f"vocab_size, hidden and layers must be >= 1, got "
                               f"{vocab_size}, {hidden}, {layers}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise FastrnnError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.cell, self.info = cell, CELLS[cell]
        self.cell_module = self.info.kernels()
        self.kernels = ENTRIES[cell]
        self._groups: dict = {}
        self.vocab_size, self.hidden, self.layers = vocab_size, hidden, layers
        self.layout = Layout(self.info, vocab_size, hidden, layers)
        n = self.layout.size
        self.theta = aligned_zeros((n,), self.dtype)
        self.grad = aligned_zeros((n,), self.dtype)
        self.moments = aligned_zeros((2, n), self.dtype)
        self.best = aligned_zeros((n,), self.dtype)
        self.params = self.layout.views(self.theta)
        self.grads = self.layout.views(self.grad)
        self.flat = Flat(self.theta, self.grad, self.moments, self.best)

    # ---- parameters -------------------------------------------------------------------
    def init(self, seed: int = 0, sig: float = 0.01) -> None:
        """Draw all weights from default_rng(seed) in float64, in torch's (out, in)
        orientation, layer by layer (W_x then W_h), then W_y; biases from the cell. Resets the
        optimizer state and best snapshot."""
        rng = np.random.default_rng(seed)
        mod, m = self.cell_module, self.hidden
        named = self.named()
        for i in range(1, self.layers + 1):
            for w in ("W_x", "W_h"):
                view = named[f"l{i}.{w}"]
                view[...] = mod.init_weight(rng, view.shape[::-1], m, sig).T
            b_hn = named.get(f"l{i}.b_hn", np.zeros(0))
            b = named[f"l{i}.b"]
            bb, bh = b.astype(np.float64), b_hn.astype(np.float64)
            mod.init_bias(bb, bh, m)
            b[...], b_hn[...] = bb, bh
        named["W_y"][...] = mod.init_weight(rng, named["W_y"].shape[::-1], m, sig).T
        named["b_y"][...] = 0.0
        self.moments[...] = 0.0
        self.best[...] = self.theta

    def named(self, flat: np.ndarray | None = None) -> dict:
        """{"l1.W_x": view, ...} of theta (default), grad, best or one row of moments."""
        return self.layout.named(self.theta if flat is None else flat)

    def set_named(self, values: dict, flat: np.ndarray | None = None) -> None:
        """Copy {name: array} into theta (or flat), checking every name and shape."""
        views = self.named(flat)
        for name, view in views.items():
            if name not in values:
                raise FastrnnError(f"missing parameter {name}")
            v = np.asarray(values[name])
            if v.shape != view.shape:
                raise FastrnnError(f"{name}: expected shape {view.shape}, got {v.shape}")
            view[...] = v

    # ---- preallocated state -----------------------------------------------------------
    def workspace(self, seq_length: int, streams: int = 1, dropout: bool = False) -> Workspace:
        """Every scratch array of one chunk of (seq_length, streams); dropout=True also
        allocates the masks (needed when Hyper.dropout > 0)."""
        T, B, L, m, K = seq_length, streams, self.layers, self.hidden, self.vocab_size
        G = self.info.gates * m
        z = lambda *shape: aligned_zeros(shape, self.dtype)  # noqa: E731
        mc = m if self.info.states == 2 else 0
        dshape = (L, T, B, m) if dropout else (L, 0, 0, 0)
        return Workspace(X=np.zeros((T, B), np.int32), Y=np.zeros((T, B), np.int32),
                         A=z(L, T, B, G), R=z(L, T, B, G), H=z(L, T + 1, B, m),
                         C=z(L, T + 1, B, mc), M=z(*dshape), D=z(*dshape), P=z(T, B, K),
                         dA=z(T, B, G), dR=z(T, B, G), dH=z(T, B, m), dh=z(B, m), dc=z(B, m))

    def hyper(self, optimizer: str = "adagrad", eta: float = 0.1, clip: float = 5.0,
              eps: float = 1e-8, alpha: float = 0.95, beta1: float = 0.9, beta2: float = 0.999,
              dropout: float = 0.0, seed: int = 0) -> Hyper:
        """Hyper-parameters, cast to the network's dtype (dropout stays float64)."""
        if optimizer not in optim.OPTIMIZERS:
            raise FastrnnError(f"optimizer: expected one of {', '.join(optim.OPTIMIZERS)}, "
                               f"got {optimizer!r}")
        if not 0.0 <= dropout < 1.0:
            raise FastrnnError(f"dropout: expected 0 <= p < 1, got {dropout}")
        t = self.dtype.type
        return Hyper(optim.OPTIMIZERS[optimizer], t(eta), t(clip), t(eps), t(alpha), t(beta1),
                     t(beta2), float(dropout), np.uint64(seed))

    def new_run(self, streams: int = 1, capacity: int = 1) -> Run:
        """A fresh training state for `streams` streams; losses/smooths hold `capacity`
        updates of one block."""
        L, m = self.layers, self.hidden
        mc = m if self.info.states == 2 else 0
        fstate = np.array([0.0, np.inf])
        return Run(h=aligned_zeros((L, streams, m), self.dtype),
                   c=aligned_zeros((L, streams, mc), self.dtype),
                   best_h=np.zeros((L, m), self.dtype), best_c=np.zeros((L, mc), self.dtype),
                   fstate=fstate, istate=np.zeros(5, np.int64),
                   losses=np.zeros(capacity), smooths=np.zeros(capacity))

    # ---- compiled operations ----------------------------------------------------------
    def _check_ws(self, ws: Workspace, hp: Hyper | None):
        if ws.A.dtype != self.dtype or ws.A.shape[0] != self.layers or ws.H.shape[3] != self.hidden:
            raise FastrnnError("workspace: not allocated by this network")
        if hp is not None and hp.dropout > 0 and ws.M.shape[1] == 0:
            raise FastrnnError("dropout > 0 needs a workspace allocated with dropout=True")

    def loss_and_grads(self, X, Y, ws: Workspace, hp: Hyper | None = None, h0=None, c0=None,
                       update: int = 0, train: bool = True) -> float:
        """Loss of chunk (X, Y) (each (T, B)) from states h0, c0 ((L, B, m), default 0), mean
        over streams; its gradient goes to self.grad (self.grads views it). The final states
        are ws.H[:, T], ws.C[:, T]. update numbers the dropout masks."""
        hp = hp or self.hyper()
        self._check_ws(ws, hp)
        ws.X[...] = X
        ws.Y[...] = Y
        ws.H[:, 0] = 0.0 if h0 is None else h0
        if ws.C.shape[3]:
            ws.C[:, 0] = 0.0 if c0 is None else c0
        return float(self.kernels.loss_and_grads(self.params, self.grads, ws, hp, update, train))

    def optimizer_step(self, hp: Hyper, step: int, save_best: bool = False) -> None:
        """Clip + the optimizer on theta with self.grad; step is Adam's t (>= 1)."""
        kind = hp.optimizer
        if kind == optim.ADAGRAD:
            optim.adagrad(self.theta, self.grad, self.moments, hp.eta, hp.clip, hp.eps,
                          self.best, save_best)
        elif kind == optim.RMSPROP:
            optim.rmsprop(self.theta, self.grad, self.moments, hp.eta, hp.clip, hp.eps, hp.alpha,
                          self.best, save_best)
        else:
            optim.adam(self.theta, self.grad, self.moments, hp.eta, hp.clip, hp.eps, hp.beta1,
                       hp.beta2, step, self.best, save_best)

    def train_block(self, ids: np.ndarray, run: Run, ws: Workspace, hp: Hyper,
                    n_updates: int, threads: int = 1, table=None) -> int:
        """n_updates updates along the stream schedule of ids (any integer array; see
        fastrnn.streams and network_kernels.finish_update); returns how many were done (fewer:
        a non-finite loss). threads > 1 runs the stream groups of each update on that many
        threads (B >= 2; see the module docstring): the result does not depend on it. With
        B >= 2 the kernels use scratch of their own, so ws's arrays are not written.
        table: per-record training's (starts, lengths, resets) of streams.record_table
        (record mode: the epoch is its rows); default the strips of ids."""
        T, B = ws.X.shape
        self._check_ws(ws, hp)
        if run.h.shape[1] != B:
            raise FastrnnError(f"run: expected {B} streams (the workspace's), got {run.h.shape[1]}")
        if n_updates > run.losses.size:
            raise FastrnnError(f"n_updates: expected <= {run.losses.size} (the run's capacity), "
                               f"got {n_updates}")
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise FastrnnError(f"threads: expected an integer >= 1, got {threads!r}")
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise FastrnnError(f"ids: expected an integer array, got {ids.dtype}")
        # one int32 kernel signature whatever the corpus' dtype (uint8 usually)
        ids = np.ascontiguousarray(ids.reshape(-1), np.int32)
        sched = self._schedule(ids, B, T, table)
        # one BLAS thread per compute thread, whoever calls (CLI, fastrnn.train, this API)
        with engine_threads():
            if B == 1:
                return int(self.kernels.train_block(self.params, self.grads, ws, hp, self.flat,
                                                    sched, run, n_updates))
            key = (T, B, ws.M.shape[1] > 0)
            if key not in self._groups:
                self._groups[key] = _Groups(self, T, B, key[2])
            groups = self._groups[key]
            threads = min(int(threads), len(groups.spans))
            return self._train_groups(groups, hp, sched, run, n_updates,
                                      None if threads == 1 else threads)

    @staticmethod
    def _schedule(ids: np.ndarray, B: int, T: int, table) -> Schedule:
        if table is None:
            streams.check_schedule(ids.size, B, T)
            return Schedule(ids, streams.strip_length(ids.size, B),
                            streams.chunks_per_epoch(ids.size, B, T), np.zeros((0, 0), np.int64),
                            np.zeros((0, 0), np.int32), np.zeros((0, 0), np.bool_))
        starts, lengths, resets = streams.check_table(table, ids.size, B, T)
        return Schedule(ids, 0, starts.shape[0], starts, lengths, resets)

    def _train_groups(self, groups: _Groups, hp: Hyper, sched: Schedule, run: Run,
                      n_updates: int, threads: int | None) -> int:
        """The updates of train_block for B >= 2: per update every group's stream_group (on
        `threads` threads, the caller's one of them), then finish_update."""
        kern = self.kernels
        inv_b = 1.0 / run.h.shape[1]
        spans = groups.spans

        def work(indices):
            return [kern.stream_group(self.params, groups.views[g], groups.ws[g], hp, sched, run,
                                      spans[g][0], inv_b, groups.next_h, groups.next_c)
                    for g in indices]

        if threads is None:
            shares = [range(len(spans))]
        else:
            shares = [range(t, len(spans), threads) for t in range(threads)]
        pool = _pool(threads - 1) if threads else None
        losses = [0.0] * len(spans)
        for i in range(n_updates):
            futures = [pool.submit(work, share) for share in shares[1:]] if pool else []
            for share, result in zip(shares, [work(shares[0])] + [f.result() for f in futures]):
                for g, loss in zip(share, result):
                    losses[g] = loss
            loss = 0.0
            for part in losses:                       # group order: the same for any threads
                loss += part
            if not kern.finish_update(self.flat, groups.grads, hp, sched, run, groups.next_h,
                                      groups.next_c, loss, int(groups.ws[0].X[0, 0]), i):
                return i
        return n_updates

    def best_model(self, run: Run) -> tuple:
        """(Params views of the best snapshot, best_h, best_c, best x0, best smooth loss)."""
        return (self.layout.views(self.best), run.best_h, run.best_c,
                int(run.istate[2]), float(run.fstate[BEST_SMOOTH]))

    def sample_workspace(self) -> Workspace:
        """A T = B = 1 workspace for sampling and priming, one character at a time (its
        H[:, 0], C[:, 0] are the state). sequence_loss reads whole chunks instead."""
        return self.workspace(1, 1, dropout=False)

    def sample(self, x0: int, n: int, rng: np.random.Generator, h=None, c=None,
               temperature: float = 1.0, top_p: float = 1.0, params: Params | None = None,
               ws: Workspace | None = None) -> tuple:
        """(n sampled ids, final h (L, m), final c) from state (h, c) (default 0), feeding x0
        first. params: the best snapshot's views, say; default theta."""
        ws = ws or self.sample_workspace()
        ws.H[:, 0, 0] = 0.0 if h is None else h
        if ws.C.shape[3]:
            ws.C[:, 0, 0] = 0.0 if c is None else c
        out = np.zeros(n, np.int32)
        uniforms = rng.random(n)
        self.kernels.sample(params or self.params, ws, int(x0), float(temperature), float(top_p),
                            uniforms, out)
        return out, ws.H[:, 0, 0].copy(), ws.C[:, 0, 0].copy()

    def sequence_loss(self, ids, resets=None, params: Params | None = None) -> tuple:
        """(total loss in nats, number of predictions) of a text, forward only; the state is
        0 at the start and reset where resets[t+1] (a document starts at t+1)."""
        ids = np.ascontiguousarray(ids, np.int32)
        resets = np.zeros(ids.size, np.bool_) if resets is None else np.asarray(resets, np.bool_)
        counts = np.zeros(1, np.int64)
        # workspaces of 128, 64, ..., 1 steps (fastrnn.network_kernels._sequence_loss)
        wss = tuple(self.workspace(EVAL_STEPS >> k, 1, dropout=False)
                    for k in range(EVAL_STEPS.bit_length()))
        h, c = np.zeros_like(wss[0].H[:, 0]), np.zeros_like(wss[0].C[:, 0])    # (L, 1, m)
        total = self.kernels.sequence_loss(params or self.params, wss, h, c, ids, resets, counts)
        return float(total), int(counts[0])
