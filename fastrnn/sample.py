"""Sampling: synthesise characters from a hidden state and a start character.

The compiled kernels (kernels.sample, .sample_top_p, .prime) do the arithmetic; this module
validates options, owns the randomness (a numpy Generator, so a seed reproduces a text), warms
the hidden state up on a priming text and streams text out in small pieces.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from . import kernels
from .errors import FastrnnError
from .model import Params, as_params

STREAM_PIECE = 64   # characters per kernel call when streaming: small enough to feel live


def check_options(n: int, temperature: float, top_p: float, seed: int | None = None) -> None:
    """One-line errors for sampling options of the wrong type or out of range (the rules of
    SampleConfig, which the command line goes through too)."""
    from .config import SampleConfig

    # a numpy Generator or SeedSequence is a seed numpy's default_rng takes as it is
    if isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        seed = None
    SampleConfig(n=n, temperature=temperature, top_p=top_p, seed=seed)


def _hidden(p: Params, h: np.ndarray) -> np.ndarray:
    if h.shape != p.b.shape or h.dtype != p.b.dtype or not h.flags.c_contiguous:
        raise FastrnnError(f"hidden state: expected a contiguous {p.b.dtype} array of shape "
                           f"{p.b.shape}, got {h.dtype} {h.shape}")
    return h


def stream_ids(params: Params | dict, h: np.ndarray, x0: int, n: int,
               rng: np.random.Generator, temperature: float = 1.0,
               top_p: float = 1.0) -> Iterator[np.ndarray]:
    """Yield arrays of sampled ids, n in all; h (the hidden state) is updated in place.
    params: a Params, or a dict in the course's shapes (converted once)."""
    check_options(n, temperature, top_p)
    p = as_params(params)
    _hidden(p, h)
    x, left = int(x0), n
    while left > 0:
        out = np.zeros(min(STREAM_PIECE, left), np.int64)
        uniforms = rng.random(out.size)
        if top_p < 1 and temperature > 0:
            kernels.sample_top_p(p, x, float(temperature), float(top_p), uniforms, h, out)
        else:
            kernels.sample(p, x, float(temperature), uniforms, h, out)
        x = int(out[-1])
        left -= out.size
        yield out


def sample_ids(params: Params | dict, h: np.ndarray, x0: int, n: int,
               rng: np.random.Generator, temperature: float = 1.0,
               top_p: float = 1.0) -> np.ndarray:
    """n sampled ids (h is copied, not changed)."""
    params = as_params(params)
    h = np.array(h, dtype=params.U.dtype)
    pieces = list(stream_ids(params, h, x0, n, rng, temperature, top_p))
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int64)


def prime(params: Params | dict, h: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Feed all but the last priming id through the RNN (one compiled call); return (h, last
    id = next input). h is copied, not changed."""
    p = as_params(params)
    h = _hidden(p, np.array(h, dtype=p.U.dtype))
    ids = np.ascontiguousarray(ids, np.int32)
    if ids.size == 0 or ids.min() < 0 or ids.max() >= p.c.size:
        raise FastrnnError(f"priming ids: expected at least one, each in [0, {p.c.size})")
    kernels.prime(p, h, ids[:-1])
    return h, int(ids[-1])


def stream_until(params: dict, vocab: str, h: np.ndarray, x0: int, n: int,
                 rng: np.random.Generator, temperature: float = 1.0, top_p: float = 1.0,
                 stop: str | None = None, keep_stop: bool = True) -> Iterator[str]:
    """Yield sampled text in pieces, n characters at most, ending at the first `stop` string
    (included when keep_stop; a stop that is not kept must be one character, as the
    end-of-record symbol is). h is updated in place."""
    yield from cut_at_stop(stream_ids(params, h, x0, n, rng, temperature, top_p), vocab, stop,
                           keep_stop)


def cut_at_stop(id_pieces, vocab: str, stop: str | None = None,
                keep_stop: bool = True) -> Iterator[str]:
    """The text of an iterator of id arrays, in pieces, ending at the first `stop` string as
    stream_until says (a stop that is not kept must be one character)."""
    from .data import decode

    if stop is not None and not keep_stop and len(stop) != 1:
        raise FastrnnError("a stop string that is not printed must be one character")
    tail = ""          # the last len(stop)-1 characters yielded: a stop may straddle pieces
    for ids in id_pieces:
        piece = decode(ids, vocab)
        if stop:
            window = tail + piece
            i = window.find(stop)
            if i >= 0:
                end = i + len(stop) - len(tail)
                yield piece[:end] if keep_stop else piece[:end - 1]
                return
            tail = window[len(window) - len(stop) + 1:] if len(stop) > 1 else ""
        yield piece


def stream_records(params: dict, vocab: str, end_of_record: str, count: int, max_chars: int,
                   rng: np.random.Generator, temperature: float = 1.0, top_p: float = 1.0,
                   prime_ids: np.ndarray | None = None) -> Iterator[tuple[int, str]]:
    """Yield (record number, text piece) of `count` whole records: each starts as a record
    starts in per-record training (h = 0, the end-of-record symbol as first input, then the
    priming ids if any) and ends before the next end-of-record symbol, or after max_chars."""
    eor = vocab.index(end_of_record)
    dtype = params["U"].dtype
    start = np.concatenate([[eor], prime_ids if prime_ids is not None else []]).astype(np.int32)
    for r in range(count):
        h, x0 = prime(params, np.zeros(params["W"].shape[0], dtype), start)
        yield r, ""               # so that an empty record still counts as one
        for piece in stream_until(params, vocab, h, x0, max_chars, rng, temperature, top_p,
                                  stop=end_of_record, keep_stop=False):
            yield r, piece
