"""What checkpoints, validation and checks cost, as measurements (not assertions):

- a save after 10,000 more updates, at 10k and at 8M updates of history: the long history is
  appended to a companion file, so the two should be about the same;
- training with validation every 10,000 updates (the default) against training without: the
  held-out pass runs on a snapshot on a second thread (fastrnn/background.py), so on two
  cores the two should be within a few percent (in so short a run the last validation, at
  the final update, has nothing to overlap: ~0.35 s of the difference);
- building the per-record stream schedule (streams.record_table) of 200,000 records, which
  a per-record run of the general engine does twice per `train` command;
- the gradient check at K = 3,000 (the course's RNN and an LSTM).
All print in the summary table (seconds); FASTRNN_BENCH_QUICK=1 shrinks them.
"""
from __future__ import annotations

import time

import numpy as np

from fastrnn.checkpoint import save
from fastrnn.config import TrainConfig
from fastrnn.data import split_validation
from fastrnn.train import new_state, train, warmup

from .conftest import QUICK, TIMINGS

LONG = 200_000 if QUICK else 8_000_000
UPDATES = 2_000 if QUICK else 40_000


def _save_after_10k_more(corpus, tmp_path, n: int) -> float:
    state = train(new_state(corpus, TrainConfig(hidden=100, max_updates=20, sample_every=0,
                                                checkpoint_every=0)), corpus)
    state.update = n
    state.loss_history = np.random.default_rng(0).random(n + 10_000)
    state.smooth_history = state.loss_history.copy()
    out = str(tmp_path / f"s{n}.h5")
    save(state, out)                          # the first save writes the whole history
    state.update = n + 10_000
    t = time.perf_counter()
    save(state, out)
    return time.perf_counter() - t


def test_save_cost_does_not_grow_with_the_run(corpus, tmp_path):
    for n in (10_000, LONG):
        TIMINGS[f"save after 10k more updates, at {n:,}"] = min(
            _save_after_10k_more(corpus, tmp_path, n) for _ in range(3))


def test_validation_cost(corpus):
    warmup("float64", validation=True, ids_dtype=corpus.ids.dtype)
    train_text, val = split_validation(corpus, 0.1, 25)
    cfg = dict(hidden=100, max_updates=UPDATES, sample_every=0, checkpoint_every=0,
               eval_every=10_000)
    for label, held_out in (("without validation", None), ("validation every 10,000", val)):
        best = np.inf
        for _ in range(3):
            state = new_state(train_text, TrainConfig(**cfg))
            t = time.perf_counter()
            train(state, train_text, val=held_out)
            best = min(best, time.perf_counter() - t)
        TIMINGS[f"{UPDATES:,} updates m=100, {label}"] = best


def test_record_table_cost():
    from fastrnn import streams
    from fastrnn.data import Corpus

    n = 20_000 if QUICK else 200_000
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 300, n)
    ids = rng.integers(0, 60, int(lengths.sum())).astype(np.uint8)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    corpus = Corpus("records", "".join(chr(65 + i) for i in range(60)), ids, starts)
    for B in (1, 32):
        t = time.perf_counter()
        streams.record_table(corpus, B, 25)
        TIMINGS[f"record table of {n:,} records, {B} streams"] = time.perf_counter() - t


def test_gradient_check_cost_at_a_large_vocabulary():
    """`fastrnn gradcheck` (and report's check) on a text of K = 3,000 distinct characters
    (CJK-like): the output layer's 2 m K central differences come from one pass's states
    (fastrnn.gradcheck.output_differences), so the check takes seconds, not one pass per
    element."""
    from fastrnn.config import GradcheckConfig
    from fastrnn.gradcheck import gradcheck
    from fastrnn.netcheck import check_network

    K = 500 if QUICK else 3_000
    ids = np.random.default_rng(0).integers(0, K, 200).astype(np.int32)
    cfg = GradcheckConfig()
    t = time.perf_counter()
    rows = gradcheck(ids, K, cfg)
    TIMINGS[f"gradient check, course RNN m={cfg.hidden}, K={K:,}"] = time.perf_counter() - t
    assert max(r.max_error for r in rows) <= cfg.threshold
    t = time.perf_counter()
    rows = check_network("lstm", vocab_size=K, hidden=5, layers=1, streams=1, seq_length=25,
                         ids=ids)
    TIMINGS[f"gradient check, LSTM m=5, K={K:,}"] = time.perf_counter() - t
    assert max(r.max_error for r in rows) <= cfg.threshold
