"""The stream schedule (fastrnn.streams): strips, chunks per epoch, DD2424's schedule for B=1."""
from __future__ import annotations

import numpy as np
import pytest

from fastrnn import streams
from fastrnn.errors import FastrnnError


@pytest.mark.parametrize("n,T", [(26, 25), (100, 25), (101, 25), (58, 5), (1000, 7)])
def test_one_stream_is_the_dd2424_schedule(n, T):
    ids = np.arange(n, dtype=np.int32)
    e, want = 0, []
    while e + T + 1 <= n:              # DD2424: the epoch ends when fewer than T+1 chars remain
        want.append(e)
        e += T
    assert streams.chunks_per_epoch(n, 1, T) == len(want)
    for k, e in enumerate(want):
        X, Y = streams.chunk(ids, 1, T, k)
        assert np.array_equal(X[:, 0], ids[e:e + T]) and np.array_equal(Y[:, 0], ids[e + 1:e + T + 1])


@pytest.mark.parametrize("n,B,T", [(100, 3, 4), (103, 4, 5), (64, 8, 3)])
def test_streams_read_their_own_strip_contiguously(n, B, T):
    ids = np.arange(n, dtype=np.int32)
    strip = n // B
    per_epoch = streams.chunks_per_epoch(n, B, T)
    assert per_epoch == (strip - 1) // T
    for s in range(B):
        read = np.concatenate([streams.chunk(ids, B, T, k)[0][:, s] for k in range(per_epoch)])
        assert np.array_equal(read, np.arange(s * strip, s * strip + per_epoch * T))
        targets = np.concatenate([streams.chunk(ids, B, T, k)[1][:, s] for k in range(per_epoch)])
        assert np.array_equal(targets, read + 1)
        assert targets.max() < (s + 1) * strip          # never reads the next strip
    assert np.array_equal(streams.chunk_starts(n, B, T, 1), np.arange(B) * strip + T)


def test_too_short_a_text_is_refused():
    with pytest.raises(FastrnnError, match="too short"):
        streams.check_schedule(20, 4, 5)
    streams.check_schedule(24, 4, 5)
