"""The training loop of the general engine: LSTM/GRU/vanilla cells, stacked layers, B parallel
streams, AdaGrad/RMSprop/Adam and dropout (fastrnn.network), with the same events, callbacks,
divergence guard and exact resume as the DD2424 loop of fastrnn.train.

A run of the default configuration (vanilla cell, one layer, one stream, AdaGrad, no dropout)
never comes here: fastrnn.train keeps the course's specialised kernels for it. Everything else
does. The state is a NetState: a TrainState whose parameters, optimizer moments and best
snapshot are the Network's flat buffers (named views of them), and whose per-stream hidden
(and cell) states are the Run's arrays, so the kernels update them in place.

Per-record training (config.reset_per_record) reads the corpus through a record table
(fastrnn.streams.record_table: whole records given greedily to the B streams, short chunks
padded, a stream reset at each record start) recomputed from the corpus and config at every
call, so a checkpoint's chunk number is all a resumed run needs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import streams
from .config import TrainConfig, course_algorithm, eta_at
from .data import Corpus, count_chunks, decode
from .network import Network
from .network_kernels import BEST_SMOOTH, BEST_UPDATE, BEST_X0, CHUNK, EPOCH, SMOOTH, UPDATE, Run
from .background import BackgroundValidation
from .model import aligned_copy
from .threads import engine_threads
from .runstate import (BLOCK_SECONDS, PROGRESS_EVERY, Callbacks, TrainState, check_same_corpus,
                       drop_final_validation, fixed_fields, grow, next_multiple,
                       planned_updates, stop_on_divergence, validation_missing)


def uses_network(config: TrainConfig) -> bool:
    """True when the run needs the general engine (anything but DD2424's exact algorithm)."""
    return not course_algorithm(config)


@dataclass
class NetState(TrainState):
    """A TrainState of the general engine. `net` owns every parameter buffer and `run` every
    per-stream state and counter; the inherited fields the reporting tools read (update,
    epoch, histories, best_update, ...) are kept in step with `run` by the loop."""

    net: Network = None
    run: Run = None

    @property
    def hidden(self) -> int:
        return self.net.hidden


def make_network(config: TrainConfig, vocab_size: int) -> Network:
    return Network(config.cell, vocab_size=vocab_size, hidden=config.hidden,
                   layers=config.layers, dtype=config.dtype)


def attach(state: NetState, net: Network, run: Run) -> NetState:
    """Point the TrainState fields at the network's buffers and the run's arrays."""
    state.net, state.run = net, run
    state.params = net.named()
    state.best = net.named(net.best)
    state.mem = {"moment1": net.named(net.moments[0]), "moment2": net.named(net.moments[1])}
    state.hprev, state.best_hprev = run.h, run.best_h
    return state


def record_table(corpus: Corpus, config: TrainConfig):
    """The run's record table (per-record training), or None (the text's strips); either way
    an error when the corpus is too short for one update."""
    if config.reset_per_record:
        return streams.record_table(corpus, config.batch, config.seq_length)
    streams.check_schedule(corpus.n_chars, config.batch, config.seq_length)
    return None


def check_text(corpus: Corpus, config: TrainConfig) -> None:
    """An error when the corpus is too short for one update (without building a record
    table)."""
    if config.reset_per_record:
        count_chunks(corpus, config.seq_length, partial_tail=True)
    else:
        streams.check_schedule(corpus.n_chars, config.batch, config.seq_length)


def updates_per_epoch(corpus: Corpus, config: TrainConfig) -> int:
    """Updates in one epoch of the general engine (the record table's rows, or the strips'
    chunks)."""
    table = record_table(corpus, config)
    if table is not None:
        return int(table[0].shape[0])
    return streams.chunks_per_epoch(corpus.n_chars, config.batch, config.seq_length)


def run_schedule(corpus: Corpus, config: TrainConfig):
    """What one epoch of the run trains on, for either engine: the DD2424 engine's chunk
    schedule ((starts, lengths, resets), 1-D), the general engine's record table in
    per-record training ((starts, lengths, resets), (E, B)), or the number of updates per
    epoch of its strips; all refuse a text too short. `fastrnn train` and a sweep's trials
    plan with it."""
    from .data import chunk_schedule

    if not uses_network(config):
        return chunk_schedule(corpus, config.seq_length, partial_tail=config.reset_per_record)
    table = record_table(corpus, config)
    return table if table is not None else \
        streams.chunks_per_epoch(corpus.n_chars, config.batch, config.seq_length)


def schedule_updates(schedule) -> int:
    """Updates per epoch of a run_schedule."""
    return len(schedule[0]) if isinstance(schedule, tuple) else int(schedule)


def plan_chars_per_update(schedule, config: TrainConfig) -> None:
    """Per-record training predicts fewer than seq_length characters in a record's last
    chunk: config.chars_per_update (what per-character figures divide by) is the schedule's
    mean. Text chunks are all seq_length (0: runinfo.chars_per_update takes seq_length)."""
    from .data import predicted_chars_per_update

    if config.reset_per_record:
        config.chars_per_update = predicted_chars_per_update(schedule)


def new_net_state(corpus: Corpus, config: TrainConfig) -> NetState:
    """A fresh run of the general engine: initial weights from config.seed, zero moments."""
    K = len(corpus.vocab)
    check_text(corpus, config)
    net = make_network(config, K)
    net.init(seed=config.seed, sig=config.sig)
    run = net.new_run(streams=config.batch, capacity=PROGRESS_EVERY)
    rng = np.random.default_rng([config.seed, 1])
    state = NetState(config=config, fixed=fixed_fields(config), vocab=corpus.vocab,
                     corpus_name=corpus.name,
                     corpus_chars=corpus.n_chars, params=None, mem=None, best=None,
                     best_hprev=None, rng_state=rng.bit_generator.state,
                     corpus_digest=corpus.digest(),
                     json_field=corpus.json_field)
    return attach(state, net, run)


def _counters_to_state(state: NetState) -> None:
    ist, fst = state.run.istate, state.run.fstate
    state.update, state.chunk, state.epoch = int(ist[UPDATE]), int(ist[CHUNK]), int(ist[EPOCH])
    state.best_update, state.best_x0 = int(ist[BEST_UPDATE]), int(ist[BEST_X0])
    state.smooth_loss, state.best_smooth = float(fst[SMOOTH]), float(fst[BEST_SMOOTH])


def _state_to_counters(state: NetState) -> None:
    ist, fst = state.run.istate, state.run.fstate
    ist[UPDATE], ist[CHUNK], ist[EPOCH] = state.update, state.chunk, state.epoch
    ist[BEST_UPDATE], ist[BEST_X0] = state.best_update, state.best_x0
    fst[SMOOTH], fst[BEST_SMOOTH] = state.smooth_loss, state.best_smooth


def validation_loss(net: Network, val: Corpus, params=None) -> float:
    """Mean loss per character of the validation text under params (default: the network's
    current ones), state carried through it from zero and reset at each document start (as
    `fastrnn eval` measures a text)."""
    resets = np.zeros(val.n_chars, np.bool_)
    resets[val.doc_starts] = True
    total, count = net.sequence_loss(val.ids, resets, params=params)
    return total / max(count, 1)


def prime_state(net: Network, ids: np.ndarray, h, c, params=None):
    """Feed ids[:-1] through the network from (h, c); returns (h, c, ids[-1]): the state and
    next input that continue the priming text."""
    ws = net.sample_workspace()
    rng = np.random.default_rng(0)           # the draws are discarded
    for x in ids[:-1]:
        _, h, c = net.sample(int(x), 1, rng, h=h, c=c, temperature=0.0, params=params, ws=ws)
    return h, c, int(ids[-1])


def train_network(state: NetState, corpus: Corpus, callbacks: Callbacks | None = None,
                  val: Corpus | None = None, threads: int = 1) -> NetState:
    """Train until config.epochs epochs or config.max_updates updates in total are done (both
    counted from the start of the run, so a resumed run finishes the original plan)."""
    cb = callbacks or Callbacks()
    with engine_threads(), BackgroundValidation(state, cb) as bg:
        return _train(state, corpus, cb, val, threads, bg)


def _train(state: NetState, corpus: Corpus, cb: Callbacks, val: Corpus | None,
           threads: int, bg: BackgroundValidation) -> NetState:
    cfg, net, run = state.config, state.net, state.run
    check_same_corpus(state, corpus)
    ids = np.ascontiguousarray(corpus.ids, np.int32)
    B, T = cfg.batch, cfg.seq_length
    table = record_table(corpus, cfg)
    if table is None:
        per_epoch = streams.chunks_per_epoch(ids.size, B, T)
    else:
        per_epoch = int(table[0].shape[0])
        row_chars = table[1].sum(axis=1, dtype=np.int64)    # characters predicted per update
    total = planned_updates(per_epoch, cfg)
    drop_final_validation(state, cfg, total)

    def validate():      # on a snapshot, on the other core (fastrnn.background)
        bg.submit(state.update, validation_loss, net, val,
                  net.layout.views(aligned_copy(net.theta)))

    if val is not None and validation_missing(state, cfg):
        validate()
    state.loss_history = grow(state.loss_history, total)
    state.smooth_history = grow(state.smooth_history, total)
    ws = net.workspace(seq_length=T, streams=B, dropout=cfg.dropout > 0)
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng_state
    state.interrupted = False
    _state_to_counters(state)
    cb.on_start(state, total, per_epoch)
    t_start, chars_start, chars = time.perf_counter(), 0, 0
    block = 1
    while state.update < total:
        if state.chunk >= per_epoch:
            state.chunk = 0
            state.epoch += 1
            _state_to_counters(state)
            cb.on_epoch_end(state)
        if cb.should_stop():
            state.interrupted = True
            break
        u, k0 = state.update, state.chunk
        pending_sample = None
        if cfg.sample_every > 0 and u % cfg.sample_every == 0 and cfg.sample_length > 0:
            if table is None:
                zero, x0 = k0 == 0, int(ids[k0 * T])
            else:     # a record's start (or an idle stream 0: a fresh record) starts from 0
                zero = bool(table[2][k0, 0]) or table[1][k0, 0] == 0
                x0 = int(ids[table[0][k0, 0]])
            h0 = np.zeros_like(run.h[:, 0]) if zero else run.h[:, 0].copy()
            c0 = np.zeros_like(run.c[:, 0]) if zero else run.c[:, 0].copy()
            out, _, _ = net.sample(x0, cfg.sample_length, rng, h=h0, c=c0)
            pending_sample = decode(out, state.vocab)
        stop_at = min(total, u + block, u + per_epoch - k0,
                      next_multiple(u, cfg.sample_every), next_multiple(u, cfg.checkpoint_every),
                      next_multiple(u, cfg.eval_every) if val is not None else total)
        hp = net.hyper(cfg.optimizer, eta=eta_at(cfg, state.epoch), clip=cfg.clip, eps=cfg.eps,
                       alpha=cfg.alpha, beta1=cfg.beta1, beta2=cfg.beta2, dropout=cfg.dropout,
                       seed=cfg.seed)
        t_block = time.perf_counter()
        done = net.train_block(ids, run, ws, hp, stop_at - u, threads=threads, table=table)
        per_update = (time.perf_counter() - t_block) / max(done, 1)
        block = max(1, min(PROGRESS_EVERY, int(BLOCK_SECONDS / max(per_update, 1e-9))))
        state.loss_history[u:u + done] = run.losses[:done]
        state.smooth_history[u:u + done] = run.smooths[:done]
        _counters_to_state(state)
        state.rng_state = rng.bit_generator.state
        if table is None:
            chars += done * B * T
            # stream 0's next input: chunk*T <= its strip's last character, also at an epoch end
            state.next_x0 = int(ids[state.chunk * T])
        else:
            chars += int(row_chars[k0:k0 + done].sum())
            # stream 0's next input: its next chunk's first, at an epoch end the next epoch's
            # (an end-of-record symbol wherever a record starts or stream 0 is idle)
            state.next_x0 = int(ids[table[0][state.chunk % per_epoch, 0]])
        if stop_on_divergence(state, cb, non_finite=done < stop_at - u):
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
        cb.on_progress(state, (chars - chars_start) / max(elapsed, 1e-9))
        if cfg.checkpoint_every > 0 and state.update % cfg.checkpoint_every == 0 \
                and state.update < total:
            state.wall_time += time.perf_counter() - t_start
            t_start, chars_start = time.perf_counter(), chars
            bg.before_checkpoint(state.update)   # runstate.validation_missing
            cb.on_checkpoint(state)
    if state.chunk >= per_epoch and state.update >= total:
        state.chunk = 0
        state.epoch += 1
        _state_to_counters(state)
        cb.on_epoch_end(state)
    state.wall_time += time.perf_counter() - t_start
    return state

