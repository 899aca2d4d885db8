"""HDF5 checkpoints: a save/load round trip gives identical arrays, vocabulary and config."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

import fastrnn
from fastrnn.checkpoint import load_state, save
from fastrnn.config import TrainConfig
from fastrnn.data import read_corpus
from fastrnn.model import PARAM_NAMES
from fastrnn.train import new_state, train


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_is_exact(small_text, tmp_path, dtype):
    corpus = read_corpus(small_text)
    cfg = TrainConfig(hidden=12, epochs=1, max_updates=120, sample_every=50, sample_length=30,
                      checkpoint_every=0, dtype=dtype, seed=3)
    state = train(new_state(corpus, cfg), corpus)
    path = str(tmp_path / "ck.h5")
    save(state, path)
    back = load_state(path)
    assert back.vocab == corpus.vocab
    assert back.config == cfg
    for group in ("params", "mem", "best"):
        for k in PARAM_NAMES:
            a, b = getattr(state, group)[k], getattr(back, group)[k]
            assert a.dtype == b.dtype == np.dtype(dtype)
            assert np.array_equal(a, b), (group, k)
    for f in ("hprev", "best_hprev"):
        assert np.array_equal(getattr(state, f), getattr(back, f))
    assert np.array_equal(state.loss_history[:120], back.loss_history)
    assert np.array_equal(state.smooth_history[:120], back.smooth_history)
    assert back.samples == state.samples and len(back.samples) == 3   # updates 0, 50, 100
    scalars = ("update", "epoch", "chunk", "smooth_loss", "best_smooth", "best_update",
               "best_x0", "next_x0", "rng_state", "corpus_name", "corpus_chars")
    for f in scalars:
        assert getattr(back, f) == getattr(state, f), f


def test_public_load_api_samples_from_best_and_latest(small_text, tmp_path):
    corpus = read_corpus(small_text)
    cfg = TrainConfig(hidden=12, max_updates=200, sample_every=0, checkpoint_every=0)
    state = train(new_state(corpus, cfg), corpus)
    path = str(tmp_path / "ck.h5")
    save(state, path)
    best, latest = fastrnn.load(path), fastrnn.load(path, "latest")
    assert np.array_equal(best.params["W"], state.best["W"])
    assert np.array_equal(latest.params["W"], state.params["W"])
    assert not np.array_equal(best.params["W"], latest.params["W"])
    text = best.sample(300, seed=1)
    assert len(text) == 300 and set(text) <= set(corpus.vocab)
    assert best.sample(300, seed=1) == text                        # seeded: reproducible
    assert best.sample(300, seed=2) != text
    assert dataclasses.asdict(best.config) == dataclasses.asdict(cfg)
    assert repr(latest) == f"<fastrnn Model: vanilla RNN, m=12, K={len(corpus.vocab)}, " \
                           "float64, latest (update 200)>"
    assert repr(best).endswith(f"float64, best (update {state.best_update:,})>")
    # the best model scores its own training text better than the untrained start would
    result = best.evaluate(open(small_text, encoding="utf-8").read())
    assert result.predictions == corpus.n_chars - 1 and result.nats < np.log(len(corpus.vocab))


def test_save_replaces_atomically_and_leaves_no_temp_files(small_text, tmp_path):
    corpus = read_corpus(small_text)
    cfg = TrainConfig(hidden=8, max_updates=20, sample_every=0, checkpoint_every=0)
    state = train(new_state(corpus, cfg), corpus)
    path = tmp_path / "ck.h5"
    save(state, str(path))
    old_inode = path.stat().st_ino
    cfg.max_updates = 40
    train(state, corpus)
    seen = {}
    real_replace = os.replace

    def replace(src, dst):
        # the moment before the rename: the old checkpoint is whole where it was, and the
        # new one is complete under the temporary name
        seen["before"] = load_state(str(dst)).update
        seen["temp"] = load_state(str(src)).update
        seen["temp_name"] = os.path.basename(src)
        return real_replace(src, dst)

    os.replace = replace
    try:
        save(state, str(path))
    finally:
        os.replace = real_replace
    assert seen["before"] == 20 and seen["temp"] == 40
    assert seen["temp_name"].startswith(".ck.h5.") and seen["temp_name"].endswith(".tmp")
    assert path.stat().st_ino != old_inode        # a new file moved in, not one rewritten
    assert load_state(str(path)).update == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.h5", "small.txt"]


def test_files_keep_the_course_layout_and_model_params_are_views(small_text, tmp_path):
    """On disk U stays (m, K) (the format is unchanged: older files load); in memory the state
    holds the kernels' layout, and Model.params is the course's view of the model's arrays."""
    import h5py

    corpus = read_corpus(small_text)
    K = len(corpus.vocab)
    cfg = TrainConfig(hidden=6, max_updates=30, sample_every=0, checkpoint_every=0)
    state = train(new_state(corpus, cfg), corpus)
    path = str(tmp_path / "ck.h5")
    save(state, path)
    with h5py.File(path) as f:
        for group in ("params", "optimizer", "best"):
            assert f[group]["U"].shape == (6, K) and f[group]["V"].shape == (K, 6)
        assert np.array_equal(f["params/U"][()], state.params.U.T)
    assert load_state(path).params.U.shape == (K, 6)
    model = fastrnn.load(path, "latest")
    assert {k: v.shape for k, v in model.params.items()} == {
        "U": (6, K), "W": (6, 6), "V": (K, 6), "b": (6,), "c": (K,)}
    assert all(np.shares_memory(model.params[k], model.weights[k]) for k in PARAM_NAMES)
