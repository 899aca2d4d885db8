"""Reading corpora (UTF-8 text or JSON records), the vocabulary, encode/decode, chunk schedule.

A corpus becomes one array of character ids plus the start of each document in it. Plain text
is one document. JSON records are either joined with a separator into one document, or kept
as separate documents so that training resets the hidden state at each record start.
"""
from __future__ import annotations

import codecs
import hashlib
import json
import numbers
import os
import re
from dataclasses import dataclass

import numpy as np

from .errors import FastrnnError

BUILTIN_NAME = "builtin:python-docs"
DIGEST_BLOCK = 1 << 20   # ids hashed at a time by Corpus.digest (4 MB of scratch memory)


@dataclass
class Corpus:
    """A training text: its vocabulary, its ids and where each document starts."""

    name: str                  # file name, or BUILTIN_NAME
    vocab: str                 # sorted distinct characters; id i is vocab[i]
    ids: np.ndarray            # character ids of all documents, concatenated (uint8
                               # up to 256 characters: see _id_dtype)
    doc_starts: np.ndarray     # int64 offset of each document in ids (first is 0)
    json_field: str = ""       # the JSON records' field read ("": a plain text)

    @property
    def n_chars(self) -> int:
        return int(self.ids.size)

    def digest(self) -> str:
        """SHA-256 (hex) of the vocabulary, the ids and the document starts: a resumed run
        checks that its text is the one trained on, not just as long with the same
        characters (the checkpoint stores it as corpus_digest). Hashed in blocks (a few MB of
        scratch memory whatever the text's size) and computed once per Corpus."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            h = hashlib.sha256(json.dumps(self.vocab).encode())
            for i in range(0, self.ids.size, DIGEST_BLOCK):
                h.update(np.ascontiguousarray(self.ids[i:i + DIGEST_BLOCK], "<i4").data)
            h.update(np.ascontiguousarray(self.doc_starts, "<i8").data)
            cached = self.__dict__["_digest"] = h.hexdigest()
        return cached

    def doc_bounds(self) -> list[tuple[int, int]]:
        """(start, end) of every document in ids."""
        ends = list(self.doc_starts[1:]) + [self.ids.size]
        return [(int(s), int(e)) for s, e in zip(self.doc_starts, ends)]


def builtin_text() -> str:
    """An offline English corpus that every CPython ships: the pydoc topic help (~425k chars),
    without its ASCII-drawn tables and heading underlines (see drop_drawings)."""
    from pydoc_data.topics import topics

    return drop_drawings("\n".join(topics[key] for key in sorted(topics)))


READ_CHUNK = 1 << 23     # bytes decoded and encoded at a time: bounds the memory of reading
_SURROGATE = re.compile("[\ud800-\udfff]")


def display_name(path: str) -> str:
    """A file's base name as text that can always be printed and stored: bytes that are not
    valid UTF-8 (a name made on another system) appear as backslash escapes."""
    raw = os.fsencode(os.path.basename(path))
    return raw.decode("utf-8", "backslashreplace")


def _open_text(path: str):
    if not os.path.exists(path):
        raise FastrnnError(f"no such file: {path}")
    if os.path.isdir(path):
        raise FastrnnError(f"{path} is a directory, not a text file")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise FastrnnError(f"cannot read {path}: {exc.strerror or exc}") from None


def text_codec(encoding: str) -> codecs.CodecInfo:
    """The codec of --encoding, or a one-line error: unknown, or not a text encoding (rot13,
    hex, base64 are bytes-to-bytes or str-to-str codecs; their decoders fail mid-read)."""
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise FastrnnError(f"unknown encoding: {encoding}") from None
    try:   # LookupError for a codec that is not bytes -> str (empty input skips the check)
        b"a".decode(codec.name)
    except UnicodeDecodeError:          # a text encoding (utf-16: one byte is too short)
        pass
    except (LookupError, UnicodeError):    # UnicodeError: "undefined", which decodes nothing
        raise FastrnnError(f"--encoding {encoding} is not a text encoding (e.g. utf-8, "
                           "latin-1, utf-16)") from None
    return codec


def _json_kind(value) -> str:
    """JSON's name for a parsed value's type."""
    if isinstance(value, _Num):          # numbers are parsed as their text
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "true/false" if isinstance(value, bool) else "number"


def _decoder(path: str, encoding: str):
    codec = text_codec(encoding)
    # a UTF-8 byte-order mark is a marker, not a character of the text (utf-8-sig drops it)
    name = "utf-8-sig" if codec.name == "utf-8" else codec.name
    return codecs.getincrementaldecoder(name)("strict")


def _bom_encoding(raw: bytes) -> str | None:
    """"utf-32" or "utf-16" when raw starts with one of their byte-order marks."""
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _text_chunks(path: str, encoding: str, keep_newlines: bool):
    """The decoded text of path, in pieces of about READ_CHUNK characters. Newlines are
    translated as Python's text mode does (\r\n and \r become \n) unless keep_newlines.
    Undecodable bytes and NUL characters anywhere in the text are one-line errors."""
    binary = FastrnnError(f"{path} looks like a binary file (it contains NUL bytes), not text")
    dec = _decoder(path, encoding)
    offset, held = 0, ""
    with _open_text(path) as fh:
        while True:
            try:
                raw = fh.read(READ_CHUNK)
            except OSError as exc:
                raise FastrnnError(f"cannot read {path}: {exc.strerror or exc}") from None
            try:
                text = dec.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                bom = _bom_encoding(raw) if offset == 0 else None
                if bom:
                    raise FastrnnError(f"{path} looks like {bom.upper()} text (it starts with "
                                       f"its byte-order mark); pass --encoding {bom}") from None
                if b"\x00" in raw:
                    raise binary from None
                raise FastrnnError(
                    f"{path} is not valid {encoding} (byte {offset + max(exc.start, 0)}); "
                    f"pass --encoding (e.g. --encoding latin-1)") from None
            except UnicodeError as exc:      # e.g. utf-16 without a byte-order mark
                raise FastrnnError(f"{path} is not valid {encoding} ({exc}); check --encoding "
                                   "(utf-16-le / utf-16-be read UTF-16 without a byte-order "
                                   "mark)") from None
            offset += len(raw)
            # checked after decoding, so that UTF-16/32 text (full of NUL bytes) is accepted
            if "\x00" in text:
                raise binary
            if not keep_newlines:
                text = held + text
                # a \r at the end of a piece may be the first half of a \r\n: decide later
                held = "\r" if raw and text.endswith("\r") else ""
                if held:
                    text = text[:-1]
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text:
                yield text
            if not raw:
                return


def _read_text(path: str, encoding: str, keep_newlines: bool = False) -> str:
    """The whole decoded text of path (see _text_chunks)."""
    return "".join(_text_chunks(path, encoding, keep_newlines))


class _Num(str):
    """A JSON number kept as its text: never a record's text, never converted (a 5,000-digit
    number would exceed Python's int conversion limit)."""


def _records(path: str, text: str, field: str) -> list[str]:
    """The `field` strings of a JSON list of records (also accepts {"records"/any key: [...]})."""
    try:
        data = json.loads(text, parse_int=_Num, parse_float=_Num, parse_constant=_Num)
    except json.JSONDecodeError as exc:
        raise FastrnnError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise FastrnnError(f"{path}: JSON nested too deeply to read") from None
    if isinstance(data, dict):  # e.g. {"tweets": [...]}: take the single list inside
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise FastrnnError(f"{path}: expected a JSON list of records")
        data = lists[0]
    if not isinstance(data, list):
        raise FastrnnError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    out = []
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):      # e.g. a list of strings: no field can name them
            raise FastrnnError(f"{path}: record {i} is a JSON {_json_kind(rec)}, not an object; "
                               f"records are objects holding the text in a field, e.g. "
                               f'[{{"{field}": "..."}}, ...]')
        if field not in rec:
            raise FastrnnError(f"{path}: record {i} has no field '{field}' (choose with --json-field)")
        if type(rec[field]) is not str:
            raise FastrnnError(f"{path}: record {i} field '{field}' is not a string")
        bad = _SURROGATE.search(rec[field])
        if bad:   # "\ud800" alone: no character, and no UTF-8 encoding to store or print it
            raise FastrnnError(f"{path}: record {i} field '{field}' contains a lone surrogate "
                               f"\\u{ord(bad.group()):04x}, which is not a character")
        out.append(rec[field])
    return out


class _Encoder:
    """Encodes text piece by piece into ids of the smallest integer type that holds them.

    Ids are given in order of first appearance while reading (one table lookup per
    character, vectorised), then renumbered once at the end so that id i is the i-th
    character of the sorted vocabulary."""

    def __init__(self, size_hint: int = 0):
        self.table = np.full(0x110000, -1, np.int32)      # code point -> provisional id
        self.codes: list[int] = []                        # provisional id -> code point
        self.ids = np.empty(max(size_hint, 16), np.uint8)
        self.n = 0

    def feed(self, text: str) -> None:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
        looked = self.table[codes]
        if looked.min(initial=0) < 0:         # characters not seen before: number them
            new = np.unique(codes[looked < 0])
            self.table[new] = np.arange(len(self.codes), len(self.codes) + new.size)
            self.codes.extend(new.tolist())
            looked = self.table[codes]
        dtype = _id_dtype(len(self.codes))
        if self.ids.dtype != dtype:
            self.ids = self.ids.astype(dtype)
        if self.n + codes.size > self.ids.size:
            grown = np.empty(max(2 * self.ids.size, self.n + codes.size), self.ids.dtype)
            grown[:self.n] = self.ids[:self.n]
            self.ids = grown
        self.ids[self.n:self.n + codes.size] = looked
        self.n += codes.size

    def finish(self) -> tuple[str, np.ndarray]:
        order = np.argsort(np.array(self.codes, np.int64), kind="stable")
        vocab = "".join(chr(self.codes[i]) for i in order)
        rank = np.empty(len(self.codes), self.ids.dtype)
        rank[order] = np.arange(len(self.codes))
        ids = self.ids[:self.n]
        for i in range(0, self.n, READ_CHUNK):          # in place, a piece at a time
            ids[i:i + READ_CHUNK] = rank[ids[i:i + READ_CHUNK]]
        return vocab, ids


def _id_dtype(vocab_size: int):
    """The smallest integer type of ids below vocab_size."""
    return np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.int32


def read_corpus(path: str | None, *, encoding: str = "utf-8", json_field: str | None = None,
                reset_per_record: bool = False, separator: str = "\n",
                keep_newlines: bool = False, unescape_html: bool = False) -> Corpus:
    """Read a corpus. path None means the built-in offline corpus.

    JSON is used when json_field is given or the file ends in .json (field default "text").
    Ids are of the smallest unsigned type that holds them (uint8 up to 256 characters).
    path may be a str or a path object (pathlib.Path).
    """
    if path is not None:
        try:
            path = os.fspath(path)
        except TypeError:
            raise FastrnnError(f"read_corpus: expected a file name, got "
                               f"{type(path).__name__}") from None
        if isinstance(path, bytes):
            path = os.fsdecode(path)
    if path is None:
        name, pieces, lengths = BUILTIN_NAME, [builtin_text()], None
        size = len(pieces[0])
    elif is_json_input(path, json_field):
        name = display_name(path)
        pieces = [d for d in record_documents(
            path, encoding=encoding, json_field=json_field, reset_per_record=reset_per_record,
            separator=separator, unescape_html=unescape_html, keep_newlines=keep_newlines) if d]
        lengths = [len(p) for p in pieces]
        size = sum(lengths)
    else:
        name = display_name(path)
        pieces, lengths = _text_chunks(path, encoding, keep_newlines), None
        try:
            size = os.path.getsize(path)    # an upper bound of the characters of most codecs
        except OSError:
            size = 0
    enc = _Encoder(size)
    for piece in pieces:
        enc.feed(piece)
    if enc.n == 0:
        raise FastrnnError(f"{path} is empty: there is no text to train on")
    vocab, ids = enc.finish()
    if len(vocab) < 2:
        raise FastrnnError(f"{path} has only one distinct character; need at least 2")
    if lengths is None:
        starts = np.zeros(1, np.int64)
    else:
        starts = np.cumsum([0] + [n for n in lengths if n][:-1]).astype(np.int64)
    field = "" if lengths is None or path is None else (json_field or "text")
    return Corpus(name=name, vocab=vocab, ids=ids, doc_starts=starts, json_field=field)


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


def split_validation(corpus: Corpus, frac: float, seq_length: int | None = None,
                     train_chars: int | None = None) -> tuple[Corpus, Corpus | None]:
    """Hold out the last `frac` of the ids as a validation corpus (same vocabulary).

    A corpus of several documents (per-record training) is cut at the document start nearest
    to that point, so every held-out record is whole, end-of-record symbols and all
    (docs/validation.md) -- when that start is within a quarter of the held-out size of the
    point: with a few long records the nearest start could hold out several times what was
    asked, and the cut stays at the point (the record it falls in is split, its tail scored
    as a record). train_chars: the training length a resumed checkpoint recorded; one written
    before cuts moved to record starts was cut inside a record, and resuming it keeps that
    cut (its text would otherwise not be the one trained on).

    With seq_length, both parts must hold at least seq_length+1 characters: a shorter
    validation text gives no loss (or the loss of one prediction), a shorter training text no
    chunk. The error says how many characters each part got."""
    if isinstance(frac, bool) or not isinstance(frac, numbers.Real) or not 0 <= frac < 1:
        raise FastrnnError(f"val_frac must be a number in [0, 1), got {frac!r}")
    if frac == 0:
        return corpus, None
    cut = int(round(corpus.n_chars * (1.0 - float(frac))))
    if corpus.doc_starts.size > 1 and train_chars != cut:
        starts = corpus.doc_starts[1:]
        nearest = int(starts[np.argmin(np.abs(starts - cut))])
        if abs(nearest - cut) <= (corpus.n_chars - cut) / 4:
            cut = nearest
    if seq_length is not None:
        need, total = seq_length + 1, corpus.n_chars
        if total - cut < need:
            raise FastrnnError(
                f"--val-frac {frac:g} holds out {total - cut:,} of {corpus.name}'s {total:,} "
                f"characters; the validation text needs at least seq-length+1 = {need:,} "
                "(raise --val-frac)")
        if cut < need:
            raise FastrnnError(
                f"--val-frac {frac:g} leaves {cut:,} of {corpus.name}'s {total:,} characters "
                f"for training; it needs at least seq-length+1 = {need:,} (lower --val-frac)")
    train_starts = corpus.doc_starts[corpus.doc_starts < cut]
    val_starts = np.concatenate([[0], corpus.doc_starts[corpus.doc_starts > cut] - cut])
    train = Corpus(corpus.name, corpus.vocab, corpus.ids[:cut], train_starts,
                   corpus.json_field)
    val = Corpus(corpus.name + " (validation)", corpus.vocab, corpus.ids[cut:],
                 val_starts.astype(np.int64), corpus.json_field)
    return train, val


def _doc_chunks(corpus: Corpus, seq_length: int, partial_tail: bool):
    """Per document: (start, number of full chunks, length of the partial tail chunk or 0)."""
    starts = corpus.doc_starts.astype(np.int64)
    ends = np.append(starts[1:], corpus.ids.size).astype(np.int64)
    full = np.maximum(ends - starts - 1, 0) // seq_length
    tail = ends - (starts + full * seq_length) - 1
    tail = np.where(partial_tail & (tail >= 1), tail, 0)
    return starts, full, tail


def count_chunks(corpus: Corpus, seq_length: int, *, partial_tail: bool = False) -> int:
    """Updates per epoch, without building the schedule; an error when there is none."""
    _, full, tail = _doc_chunks(corpus, seq_length, partial_tail)
    n = int(full.sum() + np.count_nonzero(tail))
    if n == 0:
        raise FastrnnError(
            f"{corpus.name} ({corpus.n_chars} characters) is shorter than seq-length+1 = "
            f"{seq_length + 1}: nothing to train on (lower --seq-length)")
    return n


def chunk_schedule(corpus: Corpus, seq_length: int, *, partial_tail: bool = False):
    """The chunks of one epoch: (start, length, reset) arrays.

    Chunk k trains on X = ids[start:start+length], Y = ids[start+1:start+length+1]. Within a
    document chunks follow each other every seq_length chars; a chunk with reset=True starts
    from hprev = 0 (every epoch start and, per record, every document start). docs/algorithm.md: a
    document ends its chunks when fewer than seq_length+1 characters remain; with partial_tail
    (per-record training) the remainder still makes one shorter chunk so short records count.
    """
    count_chunks(corpus, seq_length, partial_tail=partial_tail)
    doc_start, full, tail = _doc_chunks(corpus, seq_length, partial_tail)
    if doc_start.size == 1:      # one text: no per-document bookkeeping (8M chunks at 200 MB)
        n = int(full[0])
        starts = np.arange(n, dtype=np.int64) * seq_length
        lengths = np.full(n, seq_length, np.int64)
        if tail[0]:
            starts, lengths = np.append(starts, n * seq_length), np.append(lengths, tail[0])
        resets = np.zeros(starts.size, np.bool_)
        resets[0] = True
        return starts, lengths, resets
    per_doc = full + (tail > 0)
    first = np.cumsum(per_doc) - per_doc          # index of each document's first chunk
    n = int(per_doc.sum())
    doc = np.repeat(np.arange(per_doc.size), per_doc)
    k = np.arange(n, dtype=np.int64) - first[doc]  # chunk number within its document
    starts = doc_start[doc] + k * seq_length
    lengths = np.where(k < full[doc], seq_length, tail[doc]).astype(np.int64)
    resets = k == 0
    resets[0] = True
    return starts.astype(np.int64), lengths, resets.astype(np.bool_)



# ------------------------------------------------------------------ JSON records, record ends
# Per-record training surrounds every record with this symbol: the model reads it as the first
# input of a record (from h = 0) and learns to predict it after the record's last character, so
# it learns where records end, and `sample --records N` can start and stop a record the same
# way. U+241E SYMBOL FOR RECORD SEPARATOR is printable (record ends stay visible in the samples
# training logs) and does not occur in ordinary text; a record that holds it is refused.
END_OF_RECORD = "\u241e"


def record_documents(path: str, *, encoding: str = "utf-8", json_field: str | None = None,
                     reset_per_record: bool = False, separator: str = "\n",
                     unescape_html: bool = False, keep_newlines: bool = False) -> list[str]:
    """The documents of a JSON list of records: one per record, surrounded by END_OF_RECORD,
    with reset_per_record; else one, the records joined by separator. unescape_html decodes
    HTML entities (&amp; -> &) in the record text, as tweet archives need."""
    return json_documents(path, _read_text(path, encoding, keep_newlines), json_field=json_field,
                          reset_per_record=reset_per_record, separator=separator,
                          unescape_html=unescape_html)


def json_documents(where: str, text: str, *, json_field: str | None = None,
                   reset_per_record: bool = False, separator: str = "\n",
                   unescape_html: bool = False) -> list[str]:
    """record_documents of a JSON text already read (`where` names it in errors: a path, or
    stdin)."""
    return records_as_documents(_records(where, text, json_field or "text"), where,
                                reset_per_record=reset_per_record, separator=separator,
                                unescape_html=unescape_html)


def records_as_documents(recs: list[str], where: str, *, reset_per_record: bool,
                         separator: str = "\n", unescape_html: bool = False) -> list[str]:
    """Records' texts as training, validation and `eval` read them: HTML entities decoded if
    unescape_html, empty records dropped; per record, each between END_OF_RECORD symbols,
    else one document, the records joined by separator."""
    import html

    if unescape_html:
        recs = [html.unescape(r) for r in recs]
    recs = [r for r in recs if r]
    if not reset_per_record:
        return [separator.join(recs)]
    for i, r in enumerate(recs):
        if END_OF_RECORD in r:
            raise FastrnnError(f"{where}: record {i} contains {END_OF_RECORD!r} (U+241E), the "
                               "end-of-record symbol of per-record training")
    return [END_OF_RECORD + r + END_OF_RECORD for r in recs]


def is_json_input(path: str, json_field: str | None) -> bool:
    """Whether TEXT is read as JSON records (a .json file, or --json-field given)."""
    return json_field is not None or path.lower().endswith(".json")


def trained_per_record(config, vocab: str) -> bool:
    """Whether a model was trained per record (--reset-per-record): the end-of-record symbol
    in its vocabulary is then training's, not a character a plain text happened to hold."""
    return bool(config.reset_per_record) and END_OF_RECORD in vocab


def records_field(text: str, given: str | None, state) -> str | None:
    """The JSON field to read TEXT by when scoring it under a trained model (eval, report):
    --json-field when given; else the field the model was trained on, for a .json TEXT and for
    the file it was trained on (which --json-field made records whatever its name); else None
    (TEXT read as its name says)."""
    if given is not None or not state.json_field:
        return given
    if is_json_input(text, None) or display_name(text) == state.corpus_name:
        return state.json_field
    return None


def read_records(path: str, **kw) -> Corpus:
    """A Corpus of a JSON record file (keywords as record_documents)."""
    return read_corpus(path, json_field=kw.pop("json_field", None) or "text", **kw)


def read_input(text: str, *, encoding: str = "utf-8", json_field: str | None = None,
               config=None) -> Corpus:
    """A command's TEXT as a Corpus: the built-in corpus, a text file, or JSON records read as
    config (a TrainConfig; default: train's defaults) says (joined, or one document per
    record with end-of-record symbols)."""
    from .config import TrainConfig

    cfg = config or TrainConfig()
    if text == BUILTIN_NAME:
        return read_corpus(None)
    if is_json_input(text, json_field):
        return read_records(text, encoding=encoding, json_field=json_field,
                            reset_per_record=cfg.reset_per_record,
                            separator=cfg.record_separator, unescape_html=cfg.unescape_html,
                            keep_newlines=cfg.keep_newlines)
    return read_corpus(text, encoding=encoding, keep_newlines=cfg.keep_newlines)


def predicted_chars_per_update(schedule) -> float:
    """Mean characters predicted per update of a chunk_schedule: seq_length, or fewer when
    records end in shorter chunks (per-record training). Per-character figures divide by it.
    Of a record table (streams.record_table, (E, B)): per update and stream, the epoch's
    predictions / (E B) (an idle stream's slot counts 0, as in the update's loss: the sum
    over the valid steps of all streams / B)."""
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
