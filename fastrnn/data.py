"""Reading corpora (UTF-8 text or JSON records), the vocabulary, encode/decode, chunk schedule.

A corpus becomes one array of character ids plus the start of each document in it. Plain text
is one document. JSON records are either joined with a separator into one document, or kept
as separate documents so that training resets the hidden state at each record start.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np

from .errors import FastrnnError

BUILTIN_NAME = "builtin:python-docs"


@dataclass
class Corpus:
    """A training text: its vocabulary, its ids and where each document starts."""

    name: str                  # file name, or BUILTIN_NAME
    vocab: str                 # sorted distinct characters; id i is vocab[i]
    ids: np.ndarray            # int32 character ids of all documents, concatenated
    doc_starts: np.ndarray     # int64 offset of each document in ids (first is 0)

    @property
    def n_chars(self) -> int:
        return int(self.ids.size)

    def doc_bounds(self) -> list[tuple[int, int]]:
        """(start, end) of every document in ids."""
        ends = list(self.doc_starts[1:]) + [self.ids.size]
        return [(int(s), int(e)) for s, e in zip(self.doc_starts, ends)]


def builtin_text() -> str:
    """An offline English corpus that every CPython ships: the pydoc topic help (~425k chars),
    without its ASCII-drawn tables and heading underlines (see drop_drawings)."""
    from pydoc_data.topics import topics

    return drop_drawings("\n".join(topics[key] for key in sorted(topics)))


def _read_text(path: str, encoding: str) -> str:
    if not os.path.exists(path):
        raise FastrnnError(f"no such file: {path}")
    if os.path.isdir(path):
        raise FastrnnError(f"{path} is a directory, not a text file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise FastrnnError(f"cannot read {path}: {exc.strerror or exc}") from None
    binary = FastrnnError(f"{path} looks like a binary file (it contains NUL bytes), not text")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if b"\x00" in raw[:65536]:
            raise binary from None
        raise FastrnnError(
            f"{path} is not valid {encoding} (byte {exc.start}); "
            f"pass --encoding (e.g. --encoding latin-1)") from None
    except LookupError:
        raise FastrnnError(f"unknown encoding: {encoding}") from None
    # checked after decoding, so that UTF-16/32 text (full of NUL bytes) is still accepted
    if "\x00" in text[:65536]:
        raise binary
    return text


def _records(path: str, text: str, field: str) -> list[str]:
    """The `field` strings of a JSON list of records (also accepts {"records"/any key: [...]})."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FastrnnError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(data, dict):  # e.g. {"tweets": [...]}: take the single list inside
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise FastrnnError(f"{path}: expected a JSON list of records")
        data = lists[0]
    if not isinstance(data, list):
        raise FastrnnError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    out = []
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or field not in rec:
            raise FastrnnError(f"{path}: record {i} has no field '{field}' (choose with --json-field)")
        if not isinstance(rec[field], str):
            raise FastrnnError(f"{path}: record {i} field '{field}' is not a string")
        out.append(rec[field])
    return out


def read_corpus(path: str | None, *, encoding: str = "utf-8", json_field: str | None = None,
                reset_per_record: bool = False, separator: str = "\n") -> Corpus:
    """Read a corpus. path None means the built-in offline corpus.

    JSON is used when json_field is given or the file ends in .json (field default "text").
    """
    if path is None:
        docs, name = [builtin_text()], BUILTIN_NAME
    else:
        text = _read_text(path, encoding)
        name = os.path.basename(path)
        if json_field is not None or path.lower().endswith(".json"):
            recs = [r for r in _records(path, text, json_field or "text") if r]
            docs = recs if reset_per_record else [separator.join(recs)]
        else:
            docs = [text]
    docs = [d for d in docs if d]
    if not docs:
        raise FastrnnError(f"{path} is empty: there is no text to train on")
    vocab = "".join(sorted(set().union(*map(set, docs))))
    if len(vocab) < 2:
        raise FastrnnError(f"{path} has only one distinct character; need at least 2")
    lookup = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((lookup[ch] for d in docs for ch in d), dtype=np.int32,
                      count=sum(map(len, docs)))
    starts = np.cumsum([0] + [len(d) for d in docs[:-1]]).astype(np.int64)
    return Corpus(name=name, vocab=vocab, ids=ids, doc_starts=starts)


def encode(text: str, vocab: str, *, skip_unknown: bool = False) -> np.ndarray:
    """Ids of text's characters; unknown characters raise (naming them) or are skipped."""
    lookup = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted({ch for ch in text if ch not in lookup})
    if unknown and not skip_unknown:
        shown = ", ".join(repr(ch) for ch in unknown[:10])
        raise FastrnnError(f"characters not in the model's vocabulary: {shown} "
                           f"(use --skip-unknown to drop them)")
    return np.array([lookup[ch] for ch in text if ch in lookup], dtype=np.int32)


def decode(ids, vocab: str) -> str:
    return "".join(vocab[i] for i in ids)


def split_validation(corpus: Corpus, frac: float) -> tuple[Corpus, Corpus | None]:
    """Hold out the last `frac` of the ids as a validation corpus (same vocabulary)."""
    if frac <= 0:
        return corpus, None
    cut = int(round(corpus.n_chars * (1.0 - frac)))
    train_starts = corpus.doc_starts[corpus.doc_starts < cut]
    val_starts = np.concatenate([[0], corpus.doc_starts[corpus.doc_starts > cut] - cut])
    train = Corpus(corpus.name, corpus.vocab, corpus.ids[:cut], train_starts)
    val = Corpus(corpus.name + " (validation)", corpus.vocab, corpus.ids[cut:],
                 val_starts.astype(np.int64))
    return train, val


def chunk_schedule(corpus: Corpus, seq_length: int, *, partial_tail: bool = False):
    """The chunks of one epoch: (start, length, reset) arrays.

    Chunk k trains on X = ids[start:start+length], Y = ids[start+1:start+length+1]. Within a
    document chunks follow each other every seq_length chars; a chunk with reset=True starts
    from hprev = 0 (every epoch start and, per record, every document start). DESIGN.md: a
    document ends its chunks when fewer than seq_length+1 characters remain; with partial_tail
    (per-record training) the remainder still makes one shorter chunk so short records count.
    """
    starts, lengths, resets = [], [], []
    for s, e in corpus.doc_bounds():
        first = True
        pos = s
        while pos + seq_length + 1 <= e:
            starts.append(pos); lengths.append(seq_length); resets.append(first)
            first = False
            pos += seq_length
        if partial_tail and e - pos >= 2:
            starts.append(pos); lengths.append(e - pos - 1); resets.append(first)
    if not starts:
        raise FastrnnError(
            f"{corpus.name} ({corpus.n_chars} characters) is shorter than seq-length+1 = "
            f"{seq_length + 1}: nothing to train on (lower --seq-length)")
    resets[0] = True
    return (np.array(starts, np.int64), np.array(lengths, np.int64), np.array(resets, np.bool_))


# ------------------------------------------------------------------ JSON records, record ends
# Per-record training surrounds every record with this symbol: the model reads it as the first
# input of a record (from h = 0) and learns to predict it after the record's last character, so
# it learns where records end, and `sample --records N` can start and stop a record the same
# way. U+241E SYMBOL FOR RECORD SEPARATOR is printable (record ends stay visible in the samples
# training logs) and does not occur in ordinary text; a record that holds it is refused.
END_OF_RECORD = "\u241e"


def corpus_from_documents(name: str, docs: list[str]) -> Corpus:
    """A Corpus of the given documents (empty ones dropped); its vocabulary is theirs."""
    docs = [d for d in docs if d]
    if not docs:
        raise FastrnnError(f"{name} is empty: there is no text to train on")
    vocab = "".join(sorted(set().union(*map(set, docs))))
    if len(vocab) < 2:
        raise FastrnnError(f"{name} has only one distinct character; need at least 2")
    lookup = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((lookup[ch] for d in docs for ch in d), dtype=np.int32,
                      count=sum(map(len, docs)))
    starts = np.cumsum([0] + [len(d) for d in docs[:-1]]).astype(np.int64)
    return Corpus(name=name, vocab=vocab, ids=ids, doc_starts=starts)


def record_documents(path: str, *, encoding: str = "utf-8", json_field: str | None = None,
                     reset_per_record: bool = False, separator: str = "\n",
                     unescape_html: bool = False) -> list[str]:
    """The documents of a JSON list of records: one per record, surrounded by END_OF_RECORD,
    with reset_per_record; else one, the records joined by separator. unescape_html decodes
    HTML entities (&amp; -> &) in the record text, as tweet archives need."""
    import html

    recs = _records(path, _read_text(path, encoding), json_field or "text")
    if unescape_html:
        recs = [html.unescape(r) for r in recs]
    recs = [r for r in recs if r]
    if not reset_per_record:
        return [separator.join(recs)]
    for i, r in enumerate(recs):
        if END_OF_RECORD in r:
            raise FastrnnError(f"{path}: record {i} contains {END_OF_RECORD!r} (U+241E), the "
                               "end-of-record symbol of per-record training")
    return [END_OF_RECORD + r + END_OF_RECORD for r in recs]


def is_json_input(path: str, json_field: str | None) -> bool:
    """Whether TEXT is read as JSON records (a .json file, or --json-field given)."""
    return json_field is not None or path.lower().endswith(".json")


def read_records(path: str, **kw) -> Corpus:
    """A Corpus of a JSON record file (keywords as record_documents)."""
    return corpus_from_documents(os.path.basename(path), record_documents(path, **kw))


def predicted_chars_per_update(schedule) -> float:
    """Mean characters predicted per update of a chunk_schedule: seq_length, or fewer when
    records end in shorter chunks (per-record training). Per-character figures divide by it."""
    lengths = schedule[1]
    return float(lengths.sum()) / max(lengths.size, 1)


# ------------------------------------------------------------- the built-in corpus, cleaned
_TABLE_BORDER = re.compile(r"\s*\+[-=+]+\+\s*")
_UNDERLINE = re.compile(r"\s*([=\-~*^])\1{2,}\s*")


def drop_drawings(text: str) -> str:
    """text without ASCII-drawn tables (a block from a +---+ border through its | rows and
    borders) and heading underlines (=====). Why: in the pydoc help these are ~9% of the
    characters but, being long runs of spaces, dashes and bars, the easiest to predict, so
    the best model (lowest smooth loss) was the one sitting in a table, and its samples, the
    first a newcomer saw, were table borders."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if _TABLE_BORDER.fullmatch(lines[i]):
            i += 1
            while i < len(lines) and (_TABLE_BORDER.fullmatch(lines[i])
                                      or lines[i].lstrip().startswith("|")):
                i += 1
            continue
        if not _UNDERLINE.fullmatch(lines[i]):
            out.append(lines[i])
        i += 1
    return "\n".join(out)
