"""The training loop driver: DD2424 / min-char-rnn AdaGrad training, exactly (DESIGN.md 1).

The loop runs compiled blocks of updates (kernels._train_block) between events -- a sample, a
checkpoint, a validation pass, a progress report, an epoch end -- and reports every event
through a Callbacks object. It never prints. Its whole state is a TrainState, which the
checkpoint module saves and loads, so a resumed run continues bit-identically.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .config import TrainConfig
from .data import Corpus, chunk_schedule, decode
from .errors import FastrnnError
from .model import (PARAM_NAMES, Workspace, aligned_copy, aligned_zeros, init_params,
                    sequence_loss, transposed)
from .sample import sample_ids
from .threads import engine_threads

PROGRESS_EVERY = 500     # updates per compiled block at most: keeps Ctrl-C and progress prompt
# Divergence guard: training stops when a chunk's loss is NaN or inf, or when the smooth loss
# exceeds DIVERGE_FACTOR x the initial loss. The smooth loss is an exponential average over
# ~1000 updates, so only a sustained rise trips it ("for a while": e.g. ~250 updates at 10x the
# initial loss, ~20 at 100x). The initial loss is the first chunk's, but at least that of a
# uniform guess over a full chunk (seq_length ln K), so a short first chunk (per-record
# training) cannot make the threshold tiny. Checked after every block of updates, so the
# update it names is at most PROGRESS_EVERY past the one where the rule first held.
DIVERGE_FACTOR = 3.0


class DivergenceError(FastrnnError):
    """The loss became non-finite or ran away; the message names the update."""

    def __init__(self, message: str, update: int):
        super().__init__(message)
        self.update = update


@dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped."""

    config: TrainConfig
    vocab: str
    corpus_name: str
    corpus_chars: int
    params: dict
    mem: dict                       # AdaGrad accumulators G, one per parameter
    best: dict                      # parameters at the lowest smooth loss (pre-update)
    best_hprev: np.ndarray          # hidden state at the start of that update's chunk
    best_x0: int = 0                # first character of that chunk
    best_update: int = -1
    best_smooth: float = np.inf
    update: int = 0                 # updates done
    epoch: int = 0                  # epochs completed
    chunk: int = 0                  # next chunk of the epoch's schedule
    hprev: np.ndarray = None
    next_x0: int = 0                # the character that follows hprev in the text
    smooth_loss: float = np.nan
    loss_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    smooth_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    samples: list = field(default_factory=list)       # (update, smooth loss, text)
    val_history: list = field(default_factory=list)   # (update, mean val loss per char)
    rng_state: dict = None          # numpy bit generator state of the sampling RNG
    wall_time: float = 0.0          # seconds spent training, summed over resumes
    interrupted: bool = False       # the last train() call stopped on request

    @property
    def hidden(self) -> int:
        return self.params["W"].shape[0]


def new_state(corpus: Corpus, config: TrainConfig) -> TrainState:
    """A fresh run: initial weights from config.seed, zero AdaGrad state."""
    params = init_params(len(corpus.vocab), config.hidden, config.sig, config.seed, config.dtype)
    zeros = {k: np.zeros_like(v) for k, v in params.items()}
    rng = np.random.default_rng([config.seed, 1])   # sampling stream, apart from the init draws
    return TrainState(config=config, vocab=corpus.vocab, corpus_name=corpus.name,
                      corpus_chars=corpus.n_chars, params=params, mem=zeros,
                      best={k: v.copy() for k, v in params.items()},
                      best_hprev=np.zeros(config.hidden, params["U"].dtype),
                      hprev=np.zeros(config.hidden, params["U"].dtype),
                      rng_state=rng.bit_generator.state)


class Callbacks:
    """Override what you need; every method is a no-op here."""

    def on_start(self, state: TrainState, total_updates: int, updates_per_epoch: int): ...
    def on_progress(self, state: TrainState, chars_per_sec: float): ...
    def on_sample(self, update: int, smooth_loss: float, text: str): ...
    def on_epoch_end(self, state: TrainState): ...
    def on_eval(self, update: int, val_loss: float): ...
    def on_checkpoint(self, state: TrainState): ...
    def should_stop(self) -> bool:
        return False


def _grow(arr: np.ndarray, size: int) -> np.ndarray:
    if arr.size >= size:
        return arr
    out = np.zeros(size, np.float64)
    out[:arr.size] = arr
    return out


def _next_multiple(u: int, every: int) -> int:
    """The first multiple of every strictly above u (a huge number when every is 0)."""
    return (u // every + 1) * every if every > 0 else np.iinfo(np.int64).max


def validation_loss(params: dict, val: Corpus) -> float:
    """Mean loss per character (nats) of the validation text, hidden state reset per document."""
    resets = np.zeros(val.n_chars, np.bool_)
    resets[val.doc_starts] = True
    total, count = sequence_loss(params, val.ids, resets)
    return total / max(count, 1)


def train(state: TrainState, corpus: Corpus, callbacks: Callbacks | None = None,
          val: Corpus | None = None) -> TrainState:
    """Train until config.epochs epochs or config.max_updates updates in total are done.

    Both limits count from the start of the run, so resuming with the same options finishes
    the original plan. Returns the same (updated) state. BLAS runs on the engine's thread
    count for the duration of the call (fastrnn.threads), whatever the caller's setting.
    """
    with engine_threads():
        return _train(state, corpus, callbacks, val)


def _train(state: TrainState, corpus: Corpus, callbacks: Callbacks | None,
           val: Corpus | None) -> TrainState:
    cb = callbacks or Callbacks()
    cfg = state.config
    if corpus.vocab != state.vocab:
        raise FastrnnError("the corpus vocabulary differs from the checkpoint's "
                           f"(expected {len(state.vocab)} characters, got {len(corpus.vocab)})")
    if corpus.n_chars != state.corpus_chars:
        raise FastrnnError("the corpus differs from the one trained on (expected "
                           f"{state.corpus_chars} characters, got {corpus.n_chars})")
    starts, lengths, resets = chunk_schedule(corpus, cfg.seq_length,
                                             partial_tail=cfg.reset_per_record)
    per_epoch = starts.size
    total = cfg.epochs * per_epoch
    if cfg.max_updates > 0:
        total = min(total, cfg.max_updates)
    # A validation at the end of a run, at an update that is not a multiple of eval_every, is
    # one that a run which never stopped would not have made: drop it when the run goes on.
    if state.val_history and state.val_history[-1][0] == state.update < total \
            and state.update % cfg.eval_every != 0:
        state.val_history.pop()
    state.loss_history = _grow(state.loss_history, total)
    state.smooth_history = _grow(state.smooth_history, total)
    p, g = state.params, state.mem
    K, m = len(state.vocab), state.hidden
    dtype = p["U"].dtype
    ws = Workspace.allocate(K, m, cfg.seq_length, dtype)
    # AdaGrad scalars in the parameters' dtype, so float32 updates run in float32 SIMD lanes
    eta, clip, eps = (dtype.type(v) for v in (cfg.eta, cfg.clip, cfg.eps))
    gr = ws.grads
    # The kernels work on aligned copies of the parameters, their G and the best model (see
    # model.aligned_zeros), with U, its G and best copy transposed to (K, m) (see
    # kernels._forward_backward). They are copied back to the state's arrays after every
    # block: 3 x 23k elements per <= PROGRESS_EVERY updates at m=100.
    UT, GUT, BUT = transposed(p["U"]), transposed(g["U"]), transposed(state.best["U"])
    dUT = aligned_zeros(UT.shape, dtype)
    rest = PARAM_NAMES[1:]
    wp, wg, wb = ({k: aligned_copy(d[k]) for k in rest} for d in (p, g, state.best))
    fstate = np.array([state.smooth_loss, state.best_smooth], np.float64)
    istate = np.array([state.update, state.best_update, state.best_x0], np.int64)
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng_state
    state.interrupted = False
    cb.on_start(state, total, per_epoch)
    t_start, u_start = time.perf_counter(), state.update
    while state.update < total:
        if state.chunk >= per_epoch:
            state.chunk = 0
            state.epoch += 1
            cb.on_epoch_end(state)
        if cb.should_stop():
            state.interrupted = True
            break
        u, k0 = state.update, state.chunk
        pending_sample = None
        if cfg.sample_every > 0 and u % cfg.sample_every == 0 and cfg.sample_length > 0:
            h0 = np.zeros_like(state.hprev) if resets[k0] else state.hprev.copy()
            ids = sample_ids(p, h0, int(corpus.ids[starts[k0]]), cfg.sample_length, rng)
            pending_sample = decode(ids, state.vocab)
        stop_at = min(total, u + PROGRESS_EVERY, u + per_epoch - k0,
                      _next_multiple(u, cfg.sample_every), _next_multiple(u, cfg.checkpoint_every),
                      _next_multiple(u, cfg.eval_every) if val is not None else total)
        k1 = k0 + (stop_at - u)
        done = kernels._train_block(
            UT, *(wp[k] for k in rest), GUT, *(wg[k] for k in rest),
            corpus.ids, starts, lengths, resets, k0, k1, eta, clip, eps,
            ws.H, ws.P, ws.DH, ws.dA, ws.bits, ws.mark, dUT, *(gr[k] for k in rest),
            state.hprev, BUT, *(wb[k] for k in rest), state.best_hprev,
            fstate, istate, state.loss_history, state.smooth_history)
        p["U"][...], g["U"][...], state.best["U"][...] = UT.T, GUT.T, BUT.T
        for k in rest:
            p[k][...], g[k][...], state.best[k][...] = wp[k], wg[k], wb[k]
        state.update, state.chunk = int(istate[0]), k0 + int(done)
        state.smooth_loss, state.best_smooth = float(fstate[0]), float(fstate[1])
        state.best_update, state.best_x0 = int(istate[1]), int(istate[2])
        state.rng_state = rng.bit_generator.state
        if done > 0:
            last = k0 + int(done) - 1
            state.next_x0 = int(corpus.ids[starts[last] + lengths[last]])
        if done < k1 - k0:
            raise DivergenceError(
                f"training diverged at update {state.update}: the loss is not finite (NaN or "
                f"inf); try a smaller --eta (now {cfg.eta:g})", state.update)
        initial = max(state.loss_history[0], cfg.seq_length * np.log(K))
        if state.smooth_loss > DIVERGE_FACTOR * initial:
            raise DivergenceError(
                f"training diverged at update {state.update}: the smooth loss "
                f"{state.smooth_loss:.1f} rose above {DIVERGE_FACTOR:g}x the initial loss "
                f"{initial:.1f}; try a smaller --eta (now {cfg.eta:g})", state.update)
        if pending_sample is not None:
            smooth = float(state.smooth_history[u])
            state.samples.append((u, smooth, pending_sample))
            cb.on_sample(u, smooth, pending_sample)
        if val is not None and cfg.eval_every > 0 and (
                state.update % cfg.eval_every == 0 or state.update == total):
            from .evaluate import validation_loss as held_out_loss   # docs/validation.md
            vl = held_out_loss(p, val, cfg.seq_length, cfg.reset_per_record, state.hprev)
            state.val_history.append((state.update, vl))
            cb.on_eval(state.update, vl)
        elapsed = time.perf_counter() - t_start
        cb.on_progress(state, cfg.seq_length * (state.update - u_start) / max(elapsed, 1e-9))
        if cfg.checkpoint_every > 0 and state.update % cfg.checkpoint_every == 0 \
                and state.update < total:
            state.wall_time += time.perf_counter() - t_start
            t_start, u_start = time.perf_counter(), state.update
            cb.on_checkpoint(state)
    if state.chunk >= per_epoch and state.update >= total:
        state.chunk = 0
        state.epoch += 1
        cb.on_epoch_end(state)
    state.wall_time += time.perf_counter() - t_start
    return state


def warmup(dtype="float64", validation: bool = False) -> None:
    """Compile (or load from Numba's cache) the kernels a training run uses, for dtype, on a
    tiny run, so that progress and timing never include JIT time. The evaluation kernel is
    compiled only for a run with validation (it adds ~0.4 s to a cold start)."""
    corpus = Corpus("warmup", "ab", np.array([0, 1, 1, 0, 1, 0, 0, 1], np.int32),
                    np.array([0], np.int64))
    cfg = TrainConfig(hidden=2, seq_length=3, epochs=1, dtype=str(np.dtype(dtype)),
                      sample_every=1, sample_length=2, checkpoint_every=0, eval_every=1)
    train(new_state(corpus, cfg), corpus, val=corpus if validation else None)
