"""The stream schedule: which characters each of the B parallel streams reads in each chunk.

The text (n characters) is cut into B contiguous strips of equal length, strip = n // B (the
last n % B characters are never read). Stream s reads strip s chunk by chunk: chunk k has
inputs X[:, s] = ids[s*strip + k*T : s*strip + k*T + T] and targets Y = the same shifted by one.
An epoch has (strip - 1) // T chunks (every target must lie inside the strip); all streams
start it from the zero state. With B = 1 this is DD2424's schedule exactly: chunk e reads
chars[e : e+T] -> chars[e+1 : e+T+1], and the epoch ends when fewer than T+1 characters remain.
"""
from __future__ import annotations

import numpy as np

from .errors import FastrnnError
from .jit import jit


def strip_length(n_chars: int, streams: int) -> int:
    """Characters per stream: n_chars // streams."""
    return n_chars // streams


def chunks_per_epoch(n_chars: int, streams: int, seq_length: int) -> int:
    """Updates in one epoch: (strip - 1) // seq_length."""
    return max(0, (strip_length(n_chars, streams) - 1) // seq_length)


def check_schedule(n_chars: int, streams: int, seq_length: int) -> None:
    """Raise FastrnnError unless every stream gets at least one chunk per epoch."""
    if streams < 1 or seq_length < 1:
        raise FastrnnError(f"streams and seq_length must be >= 1, got {streams} and {seq_length}")
    if chunks_per_epoch(n_chars, streams, seq_length) < 1:
        raise FastrnnError(f"text too short: {n_chars} characters cut into {streams} strips leave "
                           f"{strip_length(n_chars, streams)} per stream, expected at least "
                           f"{seq_length + 1} (seq_length + 1)")


def chunk_starts(n_chars: int, streams: int, seq_length: int, chunk: int) -> np.ndarray:
    """(streams,) offsets in ids of chunk `chunk`'s first input character, one per stream."""
    strip = strip_length(n_chars, streams)
    return np.arange(streams, dtype=np.int64) * strip + chunk * seq_length


def chunk(ids: np.ndarray, streams: int, seq_length: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y), each (seq_length, streams) int32: inputs and targets of chunk k."""
    X = np.empty((seq_length, streams), np.int32)
    Y = np.empty((seq_length, streams), np.int32)
    fill_chunk(ids, strip_length(ids.size, streams), k, X, Y, 0)
    return X, Y


@jit
def fill_chunk(ids, strip, k, X, Y, first):
    """X[t, s] = ids[(first+s)*strip + k*T + t], Y[t, s] = the next character (T, B =
    X.shape): chunk k of streams first..first+B-1."""
    T, B = X.shape
    for s in range(B):
        start = (first + s) * strip + k * T
        for t in range(T):
            X[t, s] = ids[start + t]
            Y[t, s] = ids[start + t + 1]
