"""The stream schedule: which characters each of the B parallel streams reads in each chunk.

The text (n characters) is cut into B contiguous strips of equal length, strip = n // B (the
last n % B characters are never read). Stream s reads strip s chunk by chunk: chunk k has
inputs X[:, s] = ids[s*strip + k*T : s*strip + k*T + T] and targets Y = the same shifted by one.
An epoch has (strip - 1) // T chunks (every target must lie inside the strip); all streams
start it from the zero state. With B = 1 this is DD2424's schedule exactly: chunk e reads
chars[e : e+T] -> chars[e+1 : e+T+1], and the epoch ends when fewer than T+1 characters remain.

Per-record training (record mode, record_table) instead gives whole records to the streams.
Each record (a document of the corpus, surrounded by the end-of-record symbol) is cut into
chunks as data.chunk_schedule(partial_tail=True) cuts it: T predictions each, the last one
shorter. Records go to streams greedily in record order: each record to the stream that
becomes free first (the fewest chunks so far; ties to the lowest stream number), and a
stream's chunks are its records' chunks one after the other. Update k of the epoch trains
row k of the table: stream s reads `lengths[k, s]` characters from `starts[k, s]` (the rest of
its T steps are padding: no target, no loss, exactly zero gradient) and starts from the zero
state where `resets[k, s]` (a record starts) or it is idle (length 0: its records are done
for this epoch). The epoch has E = the most chunks any stream got. With B = 1 the table is
chunk_schedule's arrays exactly.
"""
from __future__ import annotations

import heapq

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


def record_table(corpus, streams: int, seq_length: int):
    """The record-mode schedule of one epoch (see the module docstring): (starts (E, B) int64,
    lengths (E, B) int32, resets (E, B) bool). An idle slot (the stream's records are done)
    has length 0, reset False and start = the end of the stream's last chunk (the position of
    its last target: the end-of-record symbol, a valid next input), or 0 for a stream that got
    no record. Raises FastrnnError when the corpus has no chunk at all."""
    from .data import _doc_chunks, count_chunks

    B, T = streams, seq_length
    if B < 1 or T < 1:
        raise FastrnnError(f"streams and seq_length must be >= 1, got {B} and {T}")
    count_chunks(corpus, T, partial_tail=True)
    doc_start, full, tail = _doc_chunks(corpus, T, True)
    per_doc = (full + (tail > 0)).astype(np.int64)
    stream = np.zeros(per_doc.size, np.int64)      # each document's stream
    offset = np.zeros(per_doc.size, np.int64)      # its first chunk's row in that stream
    if B == 1:
        offset = np.cumsum(per_doc) - per_doc
        counts = np.array([per_doc.sum()], np.int64)
    else:
        heap = [(0, s) for s in range(B)]          # (chunks so far, stream): free first
        for d in np.flatnonzero(per_doc).tolist():
            n, s = heap[0]
            stream[d], offset[d] = s, n
            heapq.heapreplace(heap, (n + int(per_doc[d]), s))
        counts = np.zeros(B, np.int64)
        for n, s in heap:
            counts[s] = n
    E = int(counts.max())
    n = int(per_doc.sum())
    doc = np.repeat(np.arange(per_doc.size), per_doc)
    k = np.arange(n, dtype=np.int64) - (np.cumsum(per_doc) - per_doc)[doc]   # chunk in its doc
    rows, cols = offset[doc] + k, stream[doc]
    starts = np.zeros((E, B), np.int64)
    lengths = np.zeros((E, B), np.int32)
    resets = np.zeros((E, B), np.bool_)
    starts[rows, cols] = doc_start[doc] + k * T
    lengths[rows, cols] = np.where(k < full[doc], T, tail[doc])
    resets[rows, cols] = k == 0
    for s in range(B):                               # idle slots: after the last chunk
        c = int(counts[s])
        if c < E:
            starts[c:, s] = starts[c - 1, s] + lengths[c - 1, s] if c else 0
    return starts, lengths, resets


def check_table(table, ids_size: int, streams: int, seq_length: int):
    """The record table as the kernels take it (C-contiguous int64, int32, bool arrays of one
    (E, B) shape, E >= 1), after checking that every read stays inside the ids."""
    starts, lengths, resets = table
    starts = np.ascontiguousarray(starts, np.int64)
    lengths = np.ascontiguousarray(lengths, np.int32)
    resets = np.ascontiguousarray(resets, np.bool_)
    if starts.ndim != 2 or starts.shape[0] < 1 or starts.shape[1] != streams \
            or lengths.shape != starts.shape or resets.shape != starts.shape:
        raise FastrnnError(f"record table: expected three (E, {streams}) arrays with E >= 1, "
                           f"got shapes {starts.shape}, {lengths.shape}, {resets.shape}")
    if lengths.min() < 0 or lengths.max() > seq_length or starts.min() < 0 \
            or (starts + lengths).max() >= ids_size:
        raise FastrnnError(f"record table: chunks must lie inside the text ({ids_size} "
                           f"characters) and be at most {seq_length} long")
    return starts, lengths, resets


@jit
def fill_table_chunk(ids, starts, lengths, k, X, Y, first):
    """Row k of a record table for streams first..first+B-1 (T, B = X.shape): X[t, s] =
    ids[start + t], Y[t, s] = ids[start + t + 1] for t < length; padding after it: X = the
    next input ids[start + length] (any valid id would do), Y = -1 (no target)."""
    T, B = X.shape
    for s in range(B):
        start, n = starts[k, first + s], lengths[k, first + s]
        for t in range(n):
            X[t, s] = ids[start + t]
            Y[t, s] = ids[start + t + 1]
        for t in range(n, T):
            X[t, s] = ids[start + n]
            Y[t, s] = -1
