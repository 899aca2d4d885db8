"""Shared fixtures: small texts, the optional real corpus beside the repository."""
from __future__ import annotations

import os

import numpy as np
import pytest

# optional: tinyshakespeare in a corpora folder next to the clone (tests that need it skip)
SHARED_CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpora",
                             "tinyshakespeare.txt")

PASSAGE = ("It was a bright cold day in April, and the clocks were striking thirteen. "
           "Winston Smith hurried home at once")[:100]


@pytest.fixture
def shakespeare_path():
    """The real 1.1M-char corpus (tinyshakespeare), or a skip where it is not beside the clone:
    it is not distributed with fastrnn."""
    if not os.path.exists(SHARED_CORPUS):
        # a clone outside the team's workspace has no ../shared, and the 1.1M-char corpus may
        # not be copied into the repository; CI runs with ../shared beside the clone
        pytest.skip(f"{os.path.normpath(SHARED_CORPUS)} does not exist")
    return SHARED_CORPUS


@pytest.fixture
def small_text(tmp_path):
    """A ~6k-char English text file (the built-in corpus' start): quick to train on."""
    from fastrnn.data import builtin_text

    path = tmp_path / "small.txt"
    path.write_text(builtin_text()[:6000], encoding="utf-8")
    return str(path)


def random_state(rng: np.random.Generator, K: int, m: int, dtype=np.float64):
    """Random parameters, AdaGrad accumulators and hidden state of realistic magnitude."""
    from fastrnn.model import param_shapes

    shapes = param_shapes(K, m)
    params = {k: (0.1 * rng.standard_normal(s)).astype(dtype) for k, s in shapes.items()}
    mem = {k: rng.uniform(0.0, 2.0, s).astype(dtype) for k, s in shapes.items()}
    hprev = np.tanh(rng.standard_normal(m)).astype(dtype)
    return params, mem, hprev
