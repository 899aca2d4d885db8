"""On the real 1.1M-char corpus (when ../shared is present): the course's expected behaviour."""
from __future__ import annotations

import numpy as np

from fastrnn.config import TrainConfig
from fastrnn.data import read_corpus
from fastrnn.train import new_state, train


def test_shakespeare_loss_starts_at_tau_ln_k_and_falls(shakespeare_path):
    corpus = read_corpus(shakespeare_path)
    assert corpus.n_chars == 1_115_394 and len(corpus.vocab) == 65
    cfg = TrainConfig(max_updates=4000, sample_every=0, checkpoint_every=0)
    state = train(new_state(corpus, cfg), corpus)
    expected = 25 * np.log(65)                       # uniform predictions at update 0
    assert abs(state.smooth_history[0] - expected) / expected < 0.01
    assert state.smooth_history[3999] < 0.72 * expected   # ~104 -> ~70 by 4k updates
    assert state.best_smooth <= state.smooth_history[3999]
