"""A trained model, as `fastrnn.load` returns it: sample or stream text from a checkpoint, and
score a text (`evaluate`, as `fastrnn eval`).

Its own module rather than fastrnn.model, which is the kernels' parameter and workspace layer
that the training loop and the checkpoint module import: a Model is built from a checkpoint
and samples through fastrnn.sample, so here it imports both without an import cycle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checkpoint import load_state
from .config import TrainConfig
from .data import decode, encode
from .errors import FastrnnError
from .model import Params
from .sample import check_options, prime as warm, stream_ids
from .runstate import TrainState


def primed_ids(model, prime: str, skip_unknown: bool) -> np.ndarray:
    """The ids a prime feeds, from the model's saved state: its saved next character first
    (the state expects it), then the prime's characters (unknown ones an error, or dropped).
    From the zero state a trained vanilla RNN can latch into a state it never trained in and
    print garbage (docs/validation.md)."""
    if not isinstance(prime, str):
        raise FastrnnError(f"prime must be a string, got {type(prime).__name__}")
    ids = encode(prime, model.vocab, skip_unknown=skip_unknown)
    if ids.size == 0:
        raise FastrnnError("--prime has no characters of the model's vocabulary")
    return np.concatenate([[model.x0], ids]).astype(np.int32)


def used_prime(prime: str, vocab: str) -> str:
    """The characters of a prime the model reads (with --skip-unknown, the known ones)."""
    return "".join(ch for ch in prime if ch in vocab)


class _TrainedModel:
    """What both kinds of trained model share: `sample` (the text of `stream`, joined),
    `evaluate` (as `fastrnn eval`) and a short repr (the dataclass one printed every weight)."""

    def __repr__(self) -> str:
        from .runinfo import model_description

        cfg, state = self.config, self.state
        snapshot = (f"best (update {state.best_update:,})" if self._is_best()
                    else f"latest (update {state.update:,})")
        return (f"<fastrnn {type(self).__name__}: {model_description(cfg)}, m={cfg.hidden}, "
                f"K={len(self.vocab)}, {cfg.dtype}, {snapshot}>")

    @property
    def cell(self) -> str:
        """"rnn", "lstm" or "gru" (the course's model, and a version-1 checkpoint's: "rnn")."""
        return self.config.cell

    @property
    def layers(self) -> int:
        return self.config.layers

    def _is_best(self) -> bool:
        """True when the weights are the run's best-model snapshot (fastrnn.load's default)."""
        net = getattr(self.state, "net", None)
        return self.weights is not net.params if net is not None else \
            self.weights is self.state.best

    def evaluate(self, text: str | list[str]):
        """Loss of a text (or of a list of documents, each from the zero state) under this
        model: a fastrnn.evaluate.EvalResult with .nats, .bits, .perplexity and the counted
        characters outside the vocabulary, exactly as `fastrnn eval` computes it. For a model
        trained per record (--reset-per-record) a list is a list of records, scored as `eval`
        scores a JSON file of them: each between end-of-record symbols, as in training (and
        with HTML entities decoded if the run decoded them, --unescape-html)."""
        from .data import records_as_documents

        if isinstance(text, str):
            return self.evaluate_documents([text])
        if not isinstance(text, (list, tuple)) or not all(isinstance(d, str) for d in text):
            raise FastrnnError("evaluate: expected a string or a list of strings, got "
                               f"{type(text).__name__}")
        if self.config.reset_per_record:
            return self.evaluate_documents(records_as_documents(
                list(text), "evaluate", reset_per_record=True,
                unescape_html=self.config.unescape_html))
        return self.evaluate_documents(list(text))

    def evaluate_documents(self, docs: list[str]):
        """evaluate() of documents as given, each from the zero state (`fastrnn eval`'s
        documents, records already between their end-of-record symbols)."""
        from .evaluate import evaluate

        net = getattr(self.state, "net", None)
        return evaluate(self.weights if net is not None else self.params, self.vocab, docs,
                        net=net)

    def sample(self, n: int = 1000, *, temperature: float = 1.0, top_p: float = 1.0,
               prime: str | None = None, seed: int | None = None,
               skip_unknown: bool = False) -> str:
        """n synthesised characters (after the priming text, if any)."""
        return "".join(self.stream(n, temperature=temperature, top_p=top_p, prime=prime,
                                   seed=seed, skip_unknown=skip_unknown))


@dataclass(repr=False)
class Model(_TrainedModel):
    """A trained model: what `fastrnn.load` returns."""

    weights: Params       # the chosen parameters (best or latest), in the kernels' layout
    vocab: str
    config: TrainConfig
    hprev: np.ndarray     # hidden state to start sampling from
    x0: int               # id of the character to start from
    state: TrainState     # everything else in the checkpoint

    @property
    def params(self) -> dict:
        """U, W, V, b, c with the course's shapes (U (m, K), W (m, m), V (K, m), b (m,),
        c (K,)), as in fastrnn.reference. Views of the model's arrays, not copies: writing to
        them changes the model. U is a transposed view, so not C-contiguous."""
        return self.weights.course()

    def stream(self, n: int = 1000, *, temperature: float = 1.0, top_p: float = 1.0,
               prime: str | None = None, seed: int | None = None, skip_unknown: bool = False):
        """Yield the synthesised text in small pieces, as it is drawn."""
        check_options(n, temperature, top_p, seed)
        h, x0 = self.hprev.copy(), self.x0
        if prime:
            h, x0 = warm(self.weights, h, primed_ids(self, prime, skip_unknown))
        rng = np.random.default_rng(seed)
        for ids in stream_ids(self.weights, h, x0, n, rng, temperature, top_p):
            yield decode(ids, self.vocab)


@dataclass(repr=False)
class NetModel(_TrainedModel):
    """A trained model of the general engine (LSTM/GRU/stacked/batched runs): the same
    interface as Model. `weights` are the network's stacked tensors (fastrnn.network_kernels
    .Params) of the chosen snapshot; hprev/cprev the state of stream 0, (layers, m)."""

    weights: object
    vocab: str
    config: TrainConfig
    hprev: np.ndarray
    cprev: np.ndarray
    x0: int
    state: TrainState

    @property
    def params(self) -> dict:
        """{"l1.W_x": array, ..., "W_y", "b_y"}: views of the chosen snapshot, stored for
        row-vector products (torch's weight_ih_l0 is l1.W_x.T; see docs/models.md)."""
        return self.state.net.layout.named(self._flat())

    def _flat(self):
        net = self.state.net
        return net.best if self.weights is not net.params else net.theta

    def stream(self, n: int = 1000, *, temperature: float = 1.0, top_p: float = 1.0,
               prime: str | None = None, seed: int | None = None, skip_unknown: bool = False):
        """Yield the synthesised text in small pieces, as it is drawn."""
        from .nettrain import prime_state

        check_options(n, temperature, top_p, seed)
        net = self.state.net
        h, c, x0 = self.hprev.copy(), self.cprev.copy(), self.x0
        if prime:
            h, c, x0 = prime_state(net, primed_ids(self, prime, skip_unknown), h, c,
                                   params=self.weights)
        rng = np.random.default_rng(seed)
        for out in self._stream_ids(h, c, x0, n, rng, temperature, top_p):
            yield decode(out, self.vocab)

    def _stream_ids(self, h, c, x0: int, n: int, rng, temperature: float, top_p: float):
        """Arrays of sampled ids, n in all, from state (h, c) feeding x0 first."""
        from .sample import STREAM_PIECE

        net = self.state.net
        ws = net.sample_workspace()
        left = n
        while left > 0:
            out, h, c = net.sample(x0, min(STREAM_PIECE, left), rng, h=h, c=c,
                                   temperature=temperature, top_p=top_p, params=self.weights,
                                   ws=ws)
            x0 = int(out[-1])
            left -= out.size
            yield out

    def stream_records(self, count: int, max_chars: int, rng: np.random.Generator,
                       temperature: float = 1.0, top_p: float = 1.0,
                       prime_ids: np.ndarray | None = None):
        """Yield (record number, text piece) of `count` whole records, as
        fastrnn.sample.stream_records does for the DD2424 model: each from the zero state,
        fed the end-of-record symbol (then the priming ids) first, ending before the next
        end-of-record symbol or after max_chars. Needs a model trained per record."""
        from .data import END_OF_RECORD, trained_per_record
        from .nettrain import prime_state
        from .sample import cut_at_stop

        check_options(max_chars, temperature, top_p)
        if not trained_per_record(self.config, self.vocab):
            raise FastrnnError("this model was not trained with end-of-record symbols (train "
                               "JSON records with --reset-per-record)")
        net = self.state.net
        eor = self.vocab.index(END_OF_RECORD)
        start = np.concatenate([[eor], prime_ids if prime_ids is not None else []]).astype(
            np.int32)
        zero_h, zero_c = np.zeros_like(self.hprev), np.zeros_like(self.cprev)
        for r in range(count):
            h, c, x0 = prime_state(net, start, zero_h, zero_c, params=self.weights)
            yield r, ""               # so that an empty record still counts as one
            for piece in cut_at_stop(self._stream_ids(h, c, x0, max_chars, rng, temperature,
                                                      top_p),
                                     self.vocab, END_OF_RECORD, keep_stop=False):
                yield r, piece


def load(path: str, which: str = "best") -> Model | NetModel:
    """Load a checkpoint as a Model: which = "best" (lowest smooth loss) or "latest"."""
    if which not in ("best", "latest"):
        raise FastrnnError(f"which: expected 'best' or 'latest', got {which!r}")
    state = load_state(path)
    net = getattr(state, "net", None)
    if net is not None:
        run = state.run
        if which == "best" and state.best_update >= 0:
            return NetModel(net.layout.views(net.best), state.vocab, state.config, run.best_h,
                            run.best_c, state.best_x0, state)
        return NetModel(net.params, state.vocab, state.config, run.h[:, 0].copy(),
                        run.c[:, 0].copy(), state.next_x0, state)
    if which == "best" and state.best_update >= 0:
        return Model(state.best, state.vocab, state.config, state.best_hprev, state.best_x0, state)
    return Model(state.params, state.vocab, state.config, state.hprev, state.next_x0, state)
