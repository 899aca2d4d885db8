"""Stream groups and threads (fastrnn.network): a run does not depend on the thread count.

An update's streams are split into groups whose number depends on B only; the groups'
gradients are summed in group order, so threads = 1, 2, 3 must give bit-identical losses,
parameters, optimizer moments and states. uint8 ids (the corpus' usual dtype) go through the
same int32 kernels.
"""
from __future__ import annotations

import numpy as np
import pytest

from fastrnn.errors import FastrnnError
from fastrnn.network import Network, stream_groups


def test_groups_depend_on_the_stream_count_only():
    assert stream_groups(1) == [(0, 1)]
    assert stream_groups(3) == [(0, 2), (2, 1)]
    assert stream_groups(32) == [(0, 16), (16, 16)]
    assert stream_groups(128) == [(0, 32), (32, 32), (64, 32), (96, 32)]
    for B in range(1, 70):
        spans = stream_groups(B)
        assert sum(n for _, n in spans) == B and spans[0][0] == 0
        assert all(a + n == b for (a, n), (b, _) in zip(spans, spans[1:]))


def _train(cell, threads, B=5, dropout=0.0, n=6):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, B * 30).astype(np.uint8)
    net = Network(cell, 7, 6, 2, "float64")
    net.init(1, sig=0.3)
    hp = net.hyper("adam", eta=0.01, dropout=dropout, seed=3)
    run = net.new_run(B, n)
    ws = net.workspace(4, B, dropout=dropout > 0)
    assert net.train_block(ids, run, ws, hp, n, threads=threads) == n
    return net, run


@pytest.mark.parametrize("cell,dropout", [("lstm", 0.0), ("gru", 0.3), ("rnn", 0.0)])
def test_threads_are_bit_identical(cell, dropout):
    net1, run1 = _train(cell, 1, dropout=dropout)
    for threads in (2, 3):
        net, run = _train(cell, threads, dropout=dropout)
        assert np.array_equal(run.losses, run1.losses), threads
        assert np.array_equal(net.theta, net1.theta) and np.array_equal(net.moments, net1.moments)
        assert np.array_equal(net.best, net1.best) and np.array_equal(run.h, run1.h)
        assert np.array_equal(run.c, run1.c) and np.array_equal(run.istate, run1.istate)


def test_threads_must_be_a_positive_integer():
    net = Network("rnn", 7, 6, 1)
    run, ws = net.new_run(2, 1), net.workspace(4, 2)
    with pytest.raises(FastrnnError, match="threads"):
        net.train_block(np.zeros(100, np.int32), run, ws, net.hyper(), 1, threads=0)
