"""The training loop driver: DD2424 / min-char-rnn AdaGrad training, exactly
(docs/algorithm.md).

The loop runs compiled blocks of updates (kernels.train_block) between events -- a sample, a
checkpoint, a validation pass, a progress report, an epoch end -- and reports every event
through a Callbacks object. It never prints. Its whole state is a TrainState, which the
checkpoint module saves and loads, so a resumed run continues bit-identically. The state's
parameters, AdaGrad G and best model are the kernels' own arrays (fastrnn.model.Params, U
stored transposed): the kernels update them in place, nothing is copied back.
"""
from __future__ import annotations

import time

import numpy as np

from . import kernels
from .config import TrainConfig, eta_at
from .data import Corpus, chunk_schedule, decode
from .errors import FastrnnError
from .model import (COUNTERS, Hyper, Params, Schedule, Trainee, Workspace, check_layout,
                    init_params)
from .sample import sample_ids
from .background import BackgroundValidation
# DivergenceError stays importable from here (fastrnn.train.DivergenceError, as before the split)
from .runstate import (BLOCK_SECONDS, PROGRESS_EVERY, Callbacks, DivergenceError,  # noqa: F401
                       TrainState, check_same_corpus, check_state, drop_final_validation,
                       fixed_fields, grow, next_multiple, planned_updates,
                       stop_on_divergence, validation_missing)
from .threads import engine_threads


def new_state(corpus: Corpus, config: TrainConfig) -> TrainState:
    """A fresh run: initial weights from config.seed, zero optimizer state. The course's
    configuration gets the DD2424 kernels; any other (cell, layers, streams, optimizer,
    dropout) the general engine's state (fastrnn.nettrain.NetState)."""
    from .config import check_memory
    from .nettrain import new_net_state, uses_network

    if not isinstance(corpus, Corpus) or not isinstance(config, TrainConfig):
        raise FastrnnError(f"new_state: expected a Corpus and a TrainConfig, got "
                           f"{type(corpus).__name__} and {type(config).__name__}")
    config.validate()
    check_memory(len(corpus.vocab), config)      # a clear error, not numpy's MemoryError
    if uses_network(config):
        return new_net_state(corpus, config)
    K = len(corpus.vocab)
    params = Params.from_course(init_params(K, config.hidden, config.sig, config.seed,
                                            config.dtype))
    rng = np.random.default_rng([config.seed, 1])   # sampling stream, apart from the init draws
    return TrainState(config=config, fixed=fixed_fields(config), vocab=corpus.vocab,
                      corpus_name=corpus.name, corpus_chars=corpus.n_chars, params=params,
                      mem=Params.zeros(K, config.hidden, config.dtype), best=params.copy(),
                      best_hprev=np.zeros(config.hidden, params.U.dtype),
                      hprev=np.zeros(config.hidden, params.U.dtype),
                      rng_state=rng.bit_generator.state, corpus_digest=corpus.digest(),
                      json_field=corpus.json_field)


def _check_inputs(state: TrainState, corpus, callbacks, val) -> None:
    """train()'s arguments as the library receives them: one-line errors, and a validation
    text read with the run's vocabulary (the kernels index the parameters by its ids)."""
    if not isinstance(corpus, Corpus):
        raise FastrnnError(f"train: corpus must be a Corpus (fastrnn.read_corpus), got "
                           f"{type(corpus).__name__}")
    if isinstance(callbacks, type):
        raise FastrnnError(f"train: callbacks must be an instance (e.g. {callbacks.__name__}()), "
                           "not the class")
    if val is not None:
        if not isinstance(val, Corpus):
            raise FastrnnError(f"train: val must be a Corpus or None, got {type(val).__name__}")
        if val.vocab != state.vocab:
            raise FastrnnError(
                f"train: the validation text's vocabulary ({len(val.vocab)} characters) differs "
                f"from the run's ({len(state.vocab)}); hold it out of the same text with "
                "fastrnn.split_validation(corpus, frac)")


def train(state: TrainState, corpus: Corpus, callbacks: Callbacks | None = None,
          val: Corpus | None = None, threads: int = 1) -> TrainState:
    """Train until config.epochs epochs or config.max_updates updates in total are done.

    Both limits count from the start of the run, so resuming with the same options finishes
    the original plan. Returns the same (updated) state. BLAS runs on the engine's thread
    count for the duration of the call (fastrnn.threads), whatever the caller's setting.
    threads: compute threads of the general engine's parallel streams (results do not depend
    on it); the DD2424 engine runs one stream on one core.
    """
    from .nettrain import NetState, train_network

    check_state(state, "train")
    _check_inputs(state, corpus, callbacks, val)
    if isinstance(state, NetState):
        return train_network(state, corpus, callbacks, val, threads)
    with engine_threads(), BackgroundValidation(state, callbacks or Callbacks()) as bg:
        return _train(state, corpus, callbacks, val, bg)


def _train(state: TrainState, corpus: Corpus, callbacks: Callbacks | None,
           val: Corpus | None, bg: BackgroundValidation) -> TrainState:
    cb = callbacks or Callbacks()
    cfg = state.config
    check_same_corpus(state, corpus)
    starts, lengths, resets = chunk_schedule(corpus, cfg.seq_length,
                                             partial_tail=cfg.reset_per_record)
    per_epoch = starts.size
    total = planned_updates(per_epoch, cfg)
    drop_final_validation(state, cfg, total)

    def validate():      # on a snapshot, on the other core (fastrnn.background)
        from .evaluate import validation_loss as held_out_loss   # docs/validation.md
        bg.submit(state.update, held_out_loss, state.params.copy(), val, cfg.seq_length,
                  cfg.reset_per_record, state.hprev.copy())

    if val is not None and validation_missing(state, cfg):
        validate()
    state.loss_history = grow(state.loss_history, total)
    state.smooth_history = grow(state.smooth_history, total)
    K, m, dtype = _check_state(state)
    ws = Workspace.allocate(K, m, cfg.seq_length, dtype)
    sched = Schedule(corpus.ids, starts, lengths, resets)
    trainee = Trainee(state.params, state.mem, state.best, state.hprev, state.best_hprev,
                      state.loss_history, state.smooth_history)
    run = np.zeros(1, COUNTERS)      # chars counts from 0 in every call: only speed uses it
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng_state
    state.interrupted = False
    cb.on_start(state, total, per_epoch)
    t_start, chars_start = time.perf_counter(), 0
    block = 1      # the first block is one update: it times the update for the next ones
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
            ids = sample_ids(state.params, h0, int(corpus.ids[starts[k0]]), cfg.sample_length,
                             rng)
            pending_sample = decode(ids, state.vocab)
        stop_at = min(total, u + block, u + per_epoch - k0,
                      next_multiple(u, cfg.sample_every), next_multiple(u, cfg.checkpoint_every),
                      next_multiple(u, cfg.eval_every) if val is not None else total)
        k1 = k0 + (stop_at - u)
        hyper = Hyper.of(eta_at(cfg, state.epoch), cfg.clip, cfg.eps, dtype)
        t_block = time.perf_counter()
        _to_counters(state, run)
        done = kernels.train_block(trainee, run, ws, sched, hyper, k1)
        _from_counters(run, state)
        per_update = (time.perf_counter() - t_block) / max(int(done), 1)
        block = max(1, min(PROGRESS_EVERY, int(BLOCK_SECONDS / max(per_update, 1e-9))))
        state.rng_state = rng.bit_generator.state
        if done > 0:
            last = k0 + int(done) - 1
            state.next_x0 = int(corpus.ids[starts[last] + lengths[last]])
        if stop_on_divergence(state, cb, non_finite=done < k1 - k0):
            break
        if pending_sample is not None:
            smooth = float(state.smooth_history[u])
            state.samples.append((u, smooth, pending_sample))
            cb.on_sample(u, smooth, pending_sample)
        if val is not None and cfg.eval_every > 0 and (
                state.update % cfg.eval_every == 0 or state.update == total):
            validate()                     # while training goes on
        bg.collect(wait=False)
        elapsed = time.perf_counter() - t_start
        cb.on_progress(state, (int(run[0]["chars"]) - chars_start) / max(elapsed, 1e-9))
        if cfg.checkpoint_every > 0 and state.update % cfg.checkpoint_every == 0 \
                and state.update < total:
            state.wall_time += time.perf_counter() - t_start
            t_start, chars_start = time.perf_counter(), int(run[0]["chars"])
            bg.before_checkpoint(state.update)   # runstate.validation_missing
            cb.on_checkpoint(state)
    if state.chunk >= per_epoch and state.update >= total:
        state.chunk = 0
        state.epoch += 1
        cb.on_epoch_end(state)
    state.wall_time += time.perf_counter() - t_start
    return state


def _check_state(state: TrainState) -> tuple[int, int, np.dtype]:
    """(K, m, dtype), after checking that every array the kernels will write is of the
    training layout (the kernels do no bounds checks)."""
    K, m, dtype = check_layout(state.params)
    for name in ("mem", "best"):
        if check_layout(getattr(state, name)) != (K, m, dtype):
            raise FastrnnError(f"{name}: expected the parameters' shapes and dtype {dtype}")
    for name in ("hprev", "best_hprev"):
        h = getattr(state, name)
        if h.shape != (m,) or h.dtype != dtype or not h.flags.c_contiguous:
            raise FastrnnError(f"{name}: expected a contiguous {dtype} array of shape {(m,)}")
    if K != len(state.vocab):
        raise FastrnnError(f"U: expected {len(state.vocab)} rows (vocabulary size), got {K}")
    return K, m, dtype


_COUNTED = ("update", "chunk", "best_update", "best_x0", "smooth", "best_smooth")
_STATE_FIELD = {"smooth": "smooth_loss", "best_smooth": "best_smooth"}


def _to_counters(state: TrainState, run: np.ndarray) -> None:
    """The state's counters into the block kernel's structured array (chars is left alone)."""
    for name in _COUNTED:
        run[0][name] = getattr(state, _STATE_FIELD.get(name, name))


def _from_counters(run: np.ndarray, state: TrainState) -> None:
    for name in _COUNTED:
        setattr(state, _STATE_FIELD.get(name, name), run[0][name].item())


def warmup(dtype="float64", validation: bool = False, ids_dtype="uint8",
           config: TrainConfig | None = None) -> None:
    """Compile (or load from Numba's cache) the kernels a training run uses, for dtype, on a
    tiny run, so that progress and timing never include JIT time. The evaluation kernel is
    compiled only for a run with validation (it adds ~0.4 s to a cold start). ids_dtype: that
    of the corpus' ids (data.read_corpus gives the smallest type), one specialisation each.
    With a config of the general engine, its cell's kernels (training, sampling, evaluation)
    are the ones compiled."""
    from .nettrain import uses_network

    corpus = Corpus("warmup", "ab", np.array([0, 1, 1, 0, 1, 0, 0, 1] * 4, ids_dtype),
                    np.array([0], np.int64))
    if config is not None and uses_network(config):
        cfg = TrainConfig(hidden=2, seq_length=3, epochs=1, dtype=str(np.dtype(dtype)),
                          sample_every=1, sample_length=2, checkpoint_every=0, eval_every=1,
                          cell=config.cell, layers=config.layers, batch=min(config.batch, 2),
                          optimizer=config.optimizer, dropout=config.dropout)
    else:
        cfg = TrainConfig(hidden=2, seq_length=3, epochs=1, dtype=str(np.dtype(dtype)),
                          sample_every=1, sample_length=2, checkpoint_every=0, eval_every=1)
    train(new_state(corpus, cfg), corpus, val=corpus if validation else None)
