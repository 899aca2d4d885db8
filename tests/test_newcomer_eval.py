"""The chunked forward-only kernel (fastrnn.evalkernels) against the NumPy reference, and the
validation loss measured as training reads text."""
from __future__ import annotations

import numpy as np
import pytest

from fastrnn import reference
from fastrnn.data import Corpus, chunk_schedule
from fastrnn.evaluate import EVAL_CHUNK, chunk_losses, evaluate, validation_loss


def _params(rng, K, m, scale=0.1, dtype=np.float64):
    shapes = {"U": (m, K), "W": (m, m), "V": (K, m), "b": (m,), "c": (K,)}
    return {k: (scale * rng.standard_normal(s)).astype(dtype) for k, s in shapes.items()}


def _reference_chunks(params, ids, schedule):
    """Each chunk's loss from the NumPy reference, the state carried as in the schedule."""
    m = params["W"].shape[0]
    h, out = np.zeros(m), []
    for s, n, reset in zip(*schedule):
        if reset:
            h = np.zeros(m)
        xs, ys = ids[s:s + n], ids[s + 1:s + n + 1]
        out.append(float(reference.loss_only(params, xs, ys, h)))
        for x in xs:                          # the state after the chunk, as the kernel keeps it
            h = np.tanh(params["W"] @ h + params["U"][:, x] + params["b"])
    return np.array(out)


@pytest.mark.parametrize("seq_length, partial", [(25, False), (7, True), (EVAL_CHUNK, True)])
def test_chunk_losses_match_the_numpy_reference(seq_length, partial):
    rng = np.random.default_rng(seq_length)
    K, m = 17, 23                     # m not a multiple of 4: the mat-vec's remainder rows too
    ids = rng.integers(0, K, 3000).astype(np.int32)
    corpus = Corpus("r", "x" * K, ids, np.array([0, 1000, 1013, 2500], np.int64))
    schedule = chunk_schedule(corpus, seq_length, partial_tail=partial)
    params = _params(rng, K, m)
    got = chunk_losses(params, ids, schedule)
    want = _reference_chunks(params, ids, schedule)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)


def test_float32_chunk_losses_are_close():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 11, 500).astype(np.int32)
    schedule = chunk_schedule(Corpus("r", "x" * 11, ids, np.array([0], np.int64)), 25)
    p64 = _params(rng, 11, 12)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    np.testing.assert_allclose(chunk_losses(p32, ids, schedule), chunk_losses(p64, ids, schedule),
                               rtol=1e-4)


def test_evaluate_predicts_every_character_after_a_document_start():
    rng = np.random.default_rng(1)
    vocab = "abcdefg"
    docs = ["".join(rng.choice(list(vocab), n)) for n in (300, 1, 2, 129, 128)]
    params = _params(rng, len(vocab), 9)
    r = evaluate(params, vocab, docs)
    assert r.predictions == sum(len(d) - 1 for d in docs)
    want = 0.0
    for d in docs:
        ids = np.array([vocab.index(ch) for ch in d])
        if ids.size > 1:
            want += float(reference.loss_only(params, ids[:-1], ids[1:], np.zeros(9)))
    assert r.total_nats == pytest.approx(want, rel=1e-10)


def test_validation_is_read_as_training_reads_text():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 5, 1000).astype(np.int32)
    val = Corpus("v", "abcde", ids, np.array([0], np.int64))
    params = _params(rng, 5, 6)
    schedule = chunk_schedule(val, 25)
    want = _reference_chunks(params, ids, schedule).sum() / (25 * schedule[0].size)
    assert validation_loss(params, val, 25) == pytest.approx(want, rel=1e-10)
    assert schedule[1].sum() == 975           # like training: the last <26 characters unread


def test_validation_starts_from_the_given_training_state():
    """A latch: unit 0 keeps its sign forever (W00 = 4); the output is right only when it is
    +1, the state training was in. From 0 the first input pushes it to -1 and it stays there."""
    params = {"U": np.array([[-1.0, 0.0]]), "W": np.array([[4.0]]), "b": np.zeros(1),
              "V": np.array([[3.0], [-3.0]]), "c": np.zeros(2)}
    ids = np.zeros(500, np.int32)                  # text of character 0 only
    val = Corpus("v", "ab", ids, np.array([0], np.int64))
    from_training = validation_loss(params, val, 25, hprev=np.ones(1))
    from_zero = validation_loss(params, val, 25)
    assert from_training < 0.01 and from_zero > 5


def test_validation_of_a_latched_tinyshakespeare_model(shakespeare_path):
    """The case users reported: seed 10 at update 4,000. From h = 0 the held-out text reads
    ~4.7 nats/char, evenly over all of it (latched); from training's state ~2.5, between
    its neighbours' validations."""
    from fastrnn.config import TrainConfig
    from fastrnn.data import read_corpus, split_validation
    from fastrnn.train import new_state, train

    corpus = read_corpus(shakespeare_path)
    tr, val = split_validation(corpus, 0.1)
    cfg = TrainConfig(seed=10, max_updates=4000, val_frac=0.1, eval_every=2000,
                      sample_every=0, checkpoint_every=0)
    state = train(new_state(tr, cfg), tr, val=val)
    recorded = dict(state.val_history)[4000]
    assert recorded == pytest.approx(validation_loss(state.params, val, 25, hprev=state.hprev))
    assert recorded < 2.8
    from_zero = chunk_losses(state.params, val.ids, chunk_schedule(val, 25)) / 25
    assert from_zero.mean() > 4.0
    assert all(part.mean() > 4.0 for part in np.array_split(from_zero, 10))   # and stays
