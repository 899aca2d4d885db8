"""The loss of any text under a trained model (`fastrnn eval`): per character in nats and
bits, and the perplexity. Characters outside the model's vocabulary are counted and skipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import FastrnnError

LN2 = math.log(2.0)


def bits(nats: float) -> float:
    """Nats to bits (runinfo re-exports it for the formatting modules)."""
    return nats / LN2


def fixed(x: float, digits: int) -> str:
    """x with `digits` decimals, or in 4 significant digits when it is huge (a diverged run's
    1e302 is 300 digits in fixed point)."""
    return f"{x:.{digits}f}" if abs(x) < 1e6 else f"{x:.4g}"


def perplexity(nats: float) -> float:
    """exp(nats); inf beyond what a float holds (a diverged model's ~1,500 nats/char)."""
    return math.exp(nats) if nats < 709.0 else math.inf


@dataclass
class EvalResult:
    """Loss of a text under a model. Characters outside the vocabulary are skipped, counted."""

    n_chars: int                   # characters in the text (all documents)
    predictions: int               # characters predicted (known, not a document's first)
    total_nats: float              # summed -log p of the predicted characters
    unknown: dict = field(default_factory=dict)   # character -> count, outside the vocabulary

    @property
    def n_unknown(self) -> int:
        return int(sum(self.unknown.values()))

    @property
    def nats(self) -> float:
        return self.total_nats / self.predictions

    @property
    def bits(self) -> float:
        return bits(self.nats)

    @property
    def perplexity(self) -> float:
        return perplexity(self.nats)


def read_documents(text: str, *, encoding: str = "utf-8", json_field: str | None = None,
                   config=None, unescape_html: bool | None = None) -> tuple[str, list[str]]:
    """(name, documents) of TEXT: a file, "-" for stdin (JSON records with json_field), or
    "builtin:python-docs".

    JSON records (a .json file or json_field) become documents as in training: one per record
    (between end-of-record symbols) if config.reset_per_record, else joined with
    config.record_separator; HTML entities decoded if unescape_html (None: as config says)."""
    from .config import TrainConfig
    from .data import (BUILTIN_NAME, _read_text, builtin_text, display_name, is_json_input,
                       json_documents)

    # read as the training text was: newlines translated unless the run kept them
    keep = bool(config.keep_newlines) if config is not None else False
    if text == BUILTIN_NAME:
        return BUILTIN_NAME, [builtin_text()]
    if text == "-":
        name, where, body, is_json = "<stdin>", "stdin", _read_stdin(encoding, keep), \
            json_field is not None
    else:
        name, where, body, is_json = display_name(text), text, _read_text(text, encoding, keep), \
            is_json_input(text, json_field)
    if not is_json:
        return name, [body]
    cfg = config or TrainConfig()
    return name, json_documents(
        where, body, json_field=json_field, reset_per_record=cfg.reset_per_record,
        separator=cfg.record_separator,
        unescape_html=cfg.unescape_html if unescape_html is None else unescape_html)


def _read_stdin(encoding: str, keep_newlines: bool) -> str:
    """All of standard input, decoded; newlines translated unless keep_newlines."""
    import sys

    from .data import text_codec

    text_codec(encoding)                  # an unknown or non-text codec: one line
    raw = sys.stdin.buffer.read()
    try:
        doc = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FastrnnError(f"stdin is not valid {encoding} (byte {exc.start}); "
                           "pass --encoding") from None
    return doc if keep_newlines else doc.replace("\r\n", "\n").replace("\r", "\n")


EVAL_CHUNK = 128   # characters per chunk of `eval`: with the state carried, only speed depends on it


def chunk_losses(params: dict, ids: np.ndarray, schedule, hprev: np.ndarray | None = None
                 ) -> np.ndarray:
    """The summed loss (nats) of every chunk of a chunk schedule over ids, forward only (see
    fastrnn.evalkernels). hprev (default 0) is the state before the first chunk."""
    from .evalkernels import _chunk_losses
    from .model import aligned_zeros, as_params, check_layout

    p = as_params(params)          # the kernels' layout (U as (K, m)), converted if need be
    K, m, dtype = check_layout(p)
    starts, lengths, resets = schedule
    T = int(lengths.max()) if lengths.size else 1
    H, P, A = aligned_zeros((T + 1, m), dtype), aligned_zeros((T, K), dtype), \
        aligned_zeros((T, m), dtype)
    h = np.zeros(m, dtype) if hprev is None else np.array(hprev, dtype)
    out = np.zeros(starts.size, np.float64)
    from .threads import engine_threads

    with engine_threads():          # one BLAS thread: the products are small (see threads.py)
        _chunk_losses(p.U, p.W, p.V, p.b, p.c, np.ascontiguousarray(ids, np.int32),
                      starts, lengths, resets, h, H, P, A, out)
    return out


def validation_loss(params: dict, val, seq_length: int, per_record: bool = False,
                    hprev: np.ndarray | None = None) -> float:
    """Mean loss per character (nats) of the held-out text, read as training reads text: in
    chunks of seq_length, the hidden state carried from chunk to chunk, starting from hprev --
    the state training is in (0 if None) -- as if training read on into the held-out text.
    Per record, every record starts from 0, as in training.

    Why not from 0 (docs/validation.md): a trained vanilla RNN's saturated units latch, so the
    state a pass starts from is never forgotten, and 0 can latch them into a configuration the
    parameters never trained on: 6-12 nats/char over a whole held-out text that the same
    parameters predict at ~2.1 from the training state."""
    from .data import chunk_schedule

    starts, lengths, resets = chunk_schedule(val, seq_length, partial_tail=per_record)
    if hprev is not None and not per_record:
        resets = resets.copy()
        resets[0] = False
    total = chunk_losses(params, val.ids, (starts, lengths, resets), hprev).sum()
    return float(total / lengths.sum())


def evaluate(params: dict, vocab: str, docs: list[str], net=None) -> EvalResult:
    """Mean loss per character of docs under params, hidden state 0 at each document start.
    With `net` (a fastrnn.network.Network), params are its Params views (a trained NetModel's
    weights) and the general engine's forward pass scores the text.

    Characters outside the vocabulary cannot be predicted (the model gives them probability 0):
    they are removed and counted, and the text around them is scored as if they were absent."""
    from .data import Corpus, chunk_schedule

    codes_vocab = np.array([ord(ch) for ch in vocab], np.int64)   # sorted, as vocab is
    pieces, starts, unknown, n_chars, pos = [], [], {}, 0, 0
    for doc in docs:
        codes = np.frombuffer(doc.encode("utf-32-le"), np.uint32).astype(np.int64)
        n_chars += codes.size
        idx = np.searchsorted(codes_vocab, codes)
        known = idx < codes_vocab.size
        known[known] = codes_vocab[idx[known]] == codes[known]
        if not known.all():
            for code, count in zip(*np.unique(codes[~known], return_counts=True)):
                unknown[chr(int(code))] = unknown.get(chr(int(code)), 0) + int(count)
        ids = idx[known].astype(np.int32)
        if ids.size:
            pieces.append(ids)
            starts.append(pos)
            pos += ids.size
    if pos < 2 or pos - len(pieces) < 1:
        raise FastrnnError(f"the text has {pos} characters of the model's vocabulary "
                           f"({sum(unknown.values())} outside it); at least 2 in one document "
                           "are needed to predict one")
    ids = np.concatenate(pieces)
    if net is not None:
        resets = np.zeros(ids.size, np.bool_)
        resets[starts] = True
        total, count = net.sequence_loss(ids, resets, params=params)
        return EvalResult(n_chars=n_chars, predictions=count, total_nats=total,
                          unknown=unknown)
    corpus = Corpus("eval", vocab, ids, np.array(starts, np.int64))
    # every character after a document's first is predicted: partial last chunks included
    schedule = chunk_schedule(corpus, EVAL_CHUNK, partial_tail=True)
    total = float(chunk_losses(params, ids, schedule).sum())
    return EvalResult(n_chars=n_chars, predictions=int(schedule[1].sum()), total_nats=total,
                      unknown=unknown)


def format_eval(r: EvalResult, name: str, model_desc: str) -> str:
    """The `fastrnn eval` text."""
    lines = [f"text        {name}: {r.n_chars:,} characters, {r.predictions:,} predicted",
             f"model       {model_desc}"]
    if r.unknown:
        top = sorted(r.unknown.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{ch!r} x{n:,}" for ch, n in top[:10])
        more = f", ... ({len(top) - 10} more)" if len(top) > 10 else ""
        lines.append(f"unknown     {r.n_unknown:,} characters outside the vocabulary "
                     f"({len(top)} distinct: {shown}{more}) skipped, not scored")
    else:
        lines.append("unknown     0 characters outside the vocabulary")
    lines += [f"loss        {fixed(r.nats, 4)} nats/char, {fixed(r.bits, 4)} bits/char",
              f"perplexity  {fixed(r.perplexity, 4)}"]
    return "\n".join(lines)
