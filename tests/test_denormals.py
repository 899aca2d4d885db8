"""float32 kernels never compute on denormal numbers, and train the same under flush-to-zero.

A rare character's probability reaches ~1e-39 in float32 at m=256: below the smallest normal
number. Computing on such denormals is ~100x slower per operation (float32 m=256 ran 2-5x
slower depending on the corpus), and under flush-to-zero / denormals-are-zero (FTZ/DAZ, which
libraries built with -ffast-math switch on for the whole process) -log(p) became inf: the run
"diverged" at update 48. The kernels flush sub-normal probabilities to 0 and take the loss as
a log-sum-exp.
"""
from __future__ import annotations

import platform

import numpy as np
import pytest

from fastrnn import TrainConfig, new_state, train
from fastrnn.data import read_corpus
from fastrnn.model import Workspace, loss_and_grads

# FTZ/DAZ are bits of x86's MXCSR register, set here through an LLVM x86 intrinsic; other
# CPUs (ARM's FPCR) have no such register to set, so the FPU-mode test cannot run there
x86 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                         reason="MXCSR (FTZ/DAZ) is an x86 register")


def _run(corpus, updates=300):
    cfg = TrainConfig(hidden=256, dtype="float32", max_updates=updates, sample_every=0,
                      checkpoint_every=0)
    return train(new_state(corpus, cfg), corpus)


@pytest.fixture(scope="module")
def corpus():
    return read_corpus(None)


def test_no_denormal_probabilities_reach_the_output_gradients(corpus):
    state = _run(corpus)
    K = len(corpus.vocab)
    ws = Workspace.allocate(K, 256, 25, np.float32)
    start = 25 * state.update
    ids = corpus.ids[start:start + 26].astype(np.int32)
    loss, grads, _ = loss_and_grads(state.params, ids[:-1], ids[1:], state.hprev, ws)
    tiny = np.finfo(np.float32).tiny
    for name, arr in [("P", ws.P)] + list(grads.items()):
        a = np.abs(arr)
        assert not ((a > 0) & (a < tiny)).any(), name
    assert np.isfinite(loss)


@x86
def test_training_under_flush_to_zero_matches_the_default_mode(corpus):
    from .fpmode import FTZ_DAZ, get_mxcsr, set_mxcsr

    plain = _run(corpus)
    old = get_mxcsr()
    set_mxcsr(old | FTZ_DAZ)
    try:
        flushed = _run(corpus)
    finally:
        set_mxcsr(old)
    assert np.isfinite(flushed.loss_history[:flushed.update]).all()
    np.testing.assert_allclose(flushed.smooth_history[:300], plain.smooth_history[:300],
                               rtol=1e-4)
