"""The loss of any text under a trained model (`fastrnn eval`): per character in nats and
bits, and the perplexity. Characters outside the model's vocabulary are counted and skipped.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .errors import FastrnnError
from .runinfo import bits

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
        return math.exp(self.nats)


def read_documents(text: str, *, encoding: str = "utf-8", json_field: str | None = None,
                   config=None) -> tuple[str, list[str]]:
    """(name, documents) of TEXT: a file, '-' for stdin, or 'builtin:python-docs'.

    JSON records (a .json file or json_field) become documents as in training: one per record
    if config.reset_per_record, else joined with config.record_separator."""
    from .data import BUILTIN_NAME, _read_text, builtin_text, read_corpus

    # read as the training text was: newlines translated unless the run kept them
    keep = bool(config.keep_newlines) if config is not None else False
    if text == BUILTIN_NAME:
        return BUILTIN_NAME, [builtin_text()]
    if text == "-":
        import sys

        raw = sys.stdin.buffer.read()
        try:
            doc = raw.decode(encoding)
            return "<stdin>", [doc if keep else doc.replace("\r\n", "\n").replace("\r", "\n")]
        except UnicodeDecodeError as exc:
            raise FastrnnError(f"stdin is not valid {encoding} (byte {exc.start}); "
                               "pass --encoding") from None
        except LookupError:
            raise FastrnnError(f"unknown encoding: {encoding}") from None
    if json_field is not None or text.lower().endswith(".json"):
        per_record = bool(config and config.reset_per_record)
        sep = config.record_separator if config else "\n"
        corpus = read_corpus(text, encoding=encoding, json_field=json_field,
                             reset_per_record=per_record, separator=sep, keep_newlines=keep)
        vocab = np.array(list(corpus.vocab))
        docs = ["".join(vocab[corpus.ids[s:e]]) for s, e in corpus.doc_bounds()]
        return corpus.name, docs
    return os.path.basename(text), [_read_text(text, encoding, keep)]


def evaluate(params: dict, vocab: str, docs: list[str]) -> EvalResult:
    """Mean loss per character of docs under params, hidden state 0 at each document start.

    Characters outside the vocabulary cannot be predicted (the model gives them probability 0):
    they are removed and counted, and the text around them is scored as if they were absent."""
    from .model import sequence_loss

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
    resets = np.zeros(ids.size, np.bool_)
    resets[starts] = True
    total, count = sequence_loss(params, ids, resets)
    return EvalResult(n_chars=n_chars, predictions=count, total_nats=total, unknown=unknown)


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
    lines += [f"loss        {r.nats:.4f} nats/char, {r.bits:.4f} bits/char",
              f"perplexity  {r.perplexity:.4f}"]
    return "\n".join(lines)
