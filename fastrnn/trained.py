"""A trained model, as `fastrnn.load` returns it: sample or stream text from a checkpoint.

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
from .train import TrainState


@dataclass
class Model:
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

    def sample(self, n: int = 1000, *, temperature: float = 1.0, top_p: float = 1.0,
               prime: str | None = None, seed: int | None = None,
               skip_unknown: bool = False) -> str:
        """n synthesised characters (after the priming text, if any)."""
        return "".join(self.stream(n, temperature=temperature, top_p=top_p, prime=prime,
                                   seed=seed, skip_unknown=skip_unknown))

    def stream(self, n: int = 1000, *, temperature: float = 1.0, top_p: float = 1.0,
               prime: str | None = None, seed: int | None = None, skip_unknown: bool = False):
        """Yield the synthesised text in small pieces, as it is drawn."""
        check_options(n, temperature, top_p)
        h, x0 = self.hprev.copy(), self.x0
        if prime:
            ids = encode(prime, self.vocab, skip_unknown=skip_unknown)
            if ids.size == 0:
                raise FastrnnError("--prime has no characters of the model's vocabulary")
            h, x0 = warm(self.weights, np.zeros_like(h), ids)
        rng = np.random.default_rng(seed)
        for ids in stream_ids(self.weights, h, x0, n, rng, temperature, top_p):
            yield decode(ids, self.vocab)


def load(path: str, which: str = "best") -> Model:
    """Load a checkpoint as a Model: which = "best" (lowest smooth loss) or "latest"."""
    if which not in ("best", "latest"):
        raise FastrnnError(f"which: expected 'best' or 'latest', got {which!r}")
    state = load_state(path)
    if which == "best" and state.best_update >= 0:
        return Model(state.best, state.vocab, state.config, state.best_hprev, state.best_x0, state)
    return Model(state.params, state.vocab, state.config, state.hprev, state.next_x0, state)
