"""Scoring a text with the general engine (`fastrnn eval`, and validation of LSTM/GRU runs).

fastrnn.network_kernels._sequence_loss reads a document in chunks of 128, 64, ..., 1 steps,
each one forward pass as in training (layer by layer, GEMMs over the chunk). Measured here,
float32 on one core, side by side:
- chunked: Network.sequence_loss as eval calls it;
- one step: the same kernel given only its 1-step workspace, i.e. one character at a time
  through every layer (how eval and validation read a text before session 7);
- NumPy: the plain reference (fastrnn.reference.network.loss_only) on the first few thousand
  characters, the oracle's speed.
The summary prints chars/s, the chunked/one-step ratio and the largest relative difference of
the three losses (they are the same sum, in other orders). FASTRNN_BENCH_QUICK=1 shrinks it.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from fastrnn.network import Network
from fastrnn.reference import network as refnet

from .conftest import EVAL_ROWS, QUICK

# name: (cell, hidden, layers, vocabulary: None = the corpus', else that many random ids)
CASES = {
    "lstm m=100": ("lstm", 100, 1, None),
    "lstm m=128 L=2": ("lstm", 128, 2, None),
    "lstm m=128 K=3000": ("lstm", 128, 1, 3000),
}


def _best_time(fn, repeats: int = 3) -> tuple[float, float]:
    """(seconds of the fastest of `repeats` calls, its result)."""
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


@pytest.mark.parametrize("case", list(CASES))
def test_eval_speed(case, corpus):
    cell, m, layers, vocab = CASES[case]
    rng = np.random.default_rng(0)
    n = 2_000 if QUICK else (30_000 if vocab else 100_000)
    if vocab is None:
        K, ids = len(corpus.vocab), np.ascontiguousarray(corpus.ids[:n], np.int32)
    else:
        K, ids = vocab, rng.integers(0, vocab, n).astype(np.int32)
    net = Network(cell, K, m, layers, "float32")
    net.init(0)
    net.sequence_loss(ids[:300])                        # compile (or load) the kernels

    chunked_s, (chunked, count) = _best_time(lambda: net.sequence_loss(ids))

    ws1 = net.workspace(1, 1, dropout=False)

    def one_step():
        h, c = np.zeros_like(ws1.H[:, 0]), np.zeros_like(ws1.C[:, 0])
        return net.kernels.sequence_loss(net.params, (ws1,), h, c, ids,
                                         np.zeros(ids.size, np.bool_), np.zeros(1, np.int64))

    one_step()
    step_s, stepwise = _best_time(one_step)

    n_ref = 300 if QUICK else 3_000
    zeros = np.zeros((layers, 1, m), np.float32)
    ref_s, ref = _best_time(lambda: refnet.loss_only(cell, net.named(), ids[:n_ref - 1, None],
                                                     ids[1:n_ref, None], zeros, zeros), 1)
    head, _ = net.sequence_loss(ids[:n_ref])
    assert count == ids.size - 1
    diff = max(abs(stepwise - chunked) / abs(chunked), abs(float(ref) - head) / abs(head))
    EVAL_ROWS[case] = (count / chunked_s, count / step_s, (n_ref - 1) / ref_s, diff)
