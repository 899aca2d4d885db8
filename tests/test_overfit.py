"""Overfitting a 100-character passage: the loss collapses and sampling reproduces it."""
from __future__ import annotations

import numpy as np

from fastrnn.config import TrainConfig
from fastrnn.data import Corpus, decode
from fastrnn.sample import sample_ids
from fastrnn.train import new_state, train

from .conftest import PASSAGE


def overfit_state(dtype="float64"):
    vocab = "".join(sorted(set(PASSAGE)))
    ids = np.array([vocab.index(ch) for ch in PASSAGE], np.int32)
    corpus = Corpus("passage", vocab, ids, np.array([0], np.int64))
    cfg = TrainConfig(epochs=5000, sample_every=0, checkpoint_every=0, dtype=dtype)
    return train(new_state(corpus, cfg), corpus), corpus


def test_overfit_passage_loss_and_reproduction():
    assert len(PASSAGE) == 100
    state, corpus = overfit_state()
    assert state.update == 5000 * 3                   # 3 full 25-char chunks per epoch
    assert state.loss_history[0] > 0.9 * 25 * np.log(len(corpus.vocab))
    assert state.smooth_loss < 0.1
    assert state.loss_history[state.update - 1] < 0.1
    rng = np.random.default_rng(0)
    h0 = np.zeros(state.hidden)
    text = PASSAGE[0] + decode(sample_ids(state.params, h0, int(corpus.ids[0]), 49, rng),
                               corpus.vocab)
    assert text == PASSAGE[:50]
    greedy = sample_ids(state.params, h0, int(corpus.ids[0]), 49, rng, temperature=0)
    assert PASSAGE[0] + decode(greedy, corpus.vocab) == PASSAGE[:50]
