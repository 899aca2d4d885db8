"""The Numba kernels against the plain NumPy reference, on identical inputs.

Whole trajectories of two correct implementations diverge after ~10 updates (AdaGrad with
eps 1e-8 amplifies 1-ulp differences), so each comparison is one update from one state:
the loss, every gradient, the new hidden state and every updated parameter. The kernels'
interface (NamedTuples, cached entry points, the run counters) is tested at the end.
"""
from __future__ import annotations

import numpy as np
import pytest

from fastrnn import kernels, model, reference
from fastrnn.data import Corpus, chunk_schedule
from fastrnn.model import PARAM_NAMES, Params

from .conftest import random_state

RTOL = 1e-10


def assert_close(got, want, rtol, what):
    """Relative to the array's scale: |got - want| <= rtol * max|want| elementwise."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(np.max(np.abs(want)), 1e-300)
    err = np.max(np.abs(got - want)) / scale
    assert err <= rtol, f"{what}: relative error {err:.3e} > {rtol:g}"


def compare_one_update(params, mem, hprev, xs, ys, rtol, eta=0.1, clip=5.0, eps=1e-8):
    """One kernel update vs one reference update from copies of the same state."""
    kp = {k: v.copy() for k, v in params.items()}
    km = {k: v.copy() for k, v in mem.items()}
    rp = {k: v.astype(np.float64) for k, v in params.items()}
    rm = {k: v.astype(np.float64) for k, v in mem.items()}
    kl, kg, kh = model.loss_and_grads(kp, xs, ys, hprev)
    rl, rg, rh = reference.loss_and_grads(rp, xs, ys, hprev.astype(np.float64))
    assert_close(kl, rl, rtol, "loss")
    for k in PARAM_NAMES:
        assert_close(kg[k], rg[k], rtol, f"d{k}")
    assert_close(kh, rh, rtol, "hidden state")
    model.adagrad_update(kp, kg, km, eta, clip, eps)
    reference.adagrad_update(rp, rg, rm, eta, clip, eps)
    for k in PARAM_NAMES:
        assert_close(kp[k], rp[k], rtol, f"updated {k}")
        assert_close(km[k], rm[k], rtol, f"AdaGrad G of {k}")


def states_along_reference_training(ids, K, m, at=(0, 50, 500), seed=0):
    """(params, mem, hprev, e) of a reference min-char-rnn run after each count in `at`."""
    params = reference.init_params(K, m, 0.01, seed)
    mem = {k: np.zeros_like(v) for k, v in params.items()}
    hprev, e, out, tau = np.zeros(m), 0, {}, 25
    for u in range(max(at) + 1):
        if e + tau + 1 > len(ids):
            e, hprev = 0, np.zeros(m)
        if u in at:
            out[u] = ({k: v.copy() for k, v in params.items()},
                      {k: v.copy() for k, v in mem.items()}, hprev.copy(), e)
        _, g, hprev = reference.loss_and_grads(params, ids[e:e + tau], ids[e + 1:e + tau + 1], hprev)
        reference.adagrad_update(params, g, mem, 0.1, 5.0, 1e-8)
        e += tau
    return out


@pytest.fixture(scope="module")
def trained_states():
    """The reference run's states after 0, 50 and 500 updates (one replay for the module)."""
    from fastrnn.data import read_corpus

    corpus = read_corpus(None)
    ids, K, m = corpus.ids[:20000], len(corpus.vocab), 100
    return ids, states_along_reference_training(ids, K, m)


@pytest.mark.parametrize("after", [0, 50, 500])
def test_one_update_matches_reference_from_trained_states(trained_states, after):
    ids, states = trained_states
    params, mem, hprev, e = states[after]
    compare_one_update(params, mem, hprev, ids[e:e + 25], ids[e + 1:e + 26], RTOL)


@pytest.mark.parametrize("K,m,tau", [(2, 1, 1), (2, 1, 25), (3, 7, 1), (80, 100, 25),
                                     (65, 33, 40)])
def test_edge_shapes_match_reference(K, m, tau):
    rng = np.random.default_rng(K * 1000 + m * 10 + tau)
    params, mem, hprev = random_state(rng, K, m)
    ids = rng.integers(0, K, tau + 1)
    compare_one_update(params, mem, hprev, ids[:-1], ids[1:], RTOL)


def test_clipping_is_applied_like_the_reference():
    """Large weights make gradients exceed the clip, so clip must act identically."""
    rng = np.random.default_rng(7)
    params, mem, hprev = random_state(rng, 10, 8)
    params["V"] *= 200.0
    ids = rng.integers(0, 10, 26)
    _, g, _ = reference.loss_and_grads(params, ids[:-1], ids[1:], hprev)
    assert max(np.abs(v).max() for v in g.values()) > 5.0  # the clip really bites
    compare_one_update(params, mem, hprev, ids[:-1], ids[1:], RTOL, clip=5.0)


def test_float32_kernel_is_close_to_float64_reference():
    rng = np.random.default_rng(3)
    params, mem, hprev = random_state(rng, 65, 100, np.float32)
    ids = rng.integers(0, 65, 26)
    compare_one_update(params, mem, hprev, ids[:-1], ids[1:], 1e-4)


def test_training_block_matches_reference_loop_step_by_step():
    """kernels.train_block (the training path: sparse U update, carried hprev, epoch reset,
    smooth loss, best model) against the reference, re-synchronised after every update."""
    from fastrnn.train import new_state, train
    from fastrnn.config import TrainConfig

    rng = np.random.default_rng(11)
    K, m, tau = 12, 9, 5
    ids = rng.integers(0, K, 58).astype(np.int32)   # 11 chunks/epoch, tail of 2 dropped
    corpus = Corpus("t", "abcdefghijkl", ids, np.array([0], np.int64))
    cfg = TrainConfig(hidden=m, seq_length=tau, epochs=3, sample_every=0, checkpoint_every=0)
    state = new_state(corpus, cfg)
    starts, _, _ = chunk_schedule(corpus, tau)
    assert starts.size == 11
    rp = {k: v.copy() for k, v in state.params.course().items()}
    rm = {k: np.zeros_like(v) for k, v in rp.items()}
    hprev, e, smooth, losses, before = np.zeros(m), 0, None, [], []
    for u in range(30):
        before.append({k: v.copy() for k, v in state.params.course().items()})
        cfg.max_updates = u + 1
        train(state, corpus)
        if e + tau + 1 > ids.size:
            e, hprev = 0, np.zeros(m)
        loss, g, hnew = reference.loss_and_grads(rp, ids[e:e + tau], ids[e + 1:e + tau + 1], hprev)
        smooth = loss if smooth is None else 0.999 * smooth + 0.001 * loss
        losses.append(loss)
        reference.adagrad_update(rp, g, rm, 0.1, 5.0, 1e-8)
        assert_close(state.loss_history[u], loss, RTOL, f"loss at update {u}")
        assert_close(state.smooth_loss, smooth, RTOL, f"smooth loss at update {u}")
        assert_close(state.hprev, hnew, RTOL, f"hprev at update {u}")
        kp, km = state.params.course(), state.mem.course()
        for k in PARAM_NAMES:
            assert_close(kp[k], rp[k], RTOL, f"{k} after update {u}")
            assert_close(km[k], rm[k], RTOL, f"G of {k} after update {u}")
        # re-synchronise so that ulp differences cannot grow
        for k in PARAM_NAMES:
            rp[k][...] = kp[k]
            rm[k][...] = km[k]
        hprev = state.hprev.astype(np.float64).copy()
        e += tau
    assert state.epoch == 2 and state.chunk == 8          # 30 = 11 + 11 + 8
    assert state.best_smooth == min(state.smooth_history[:30])
    assert state.best_update == int(np.argmin(state.smooth_history[:30]))
    for k in PARAM_NAMES:       # the best model is the parameters before the best update
        assert np.array_equal(state.best.course()[k], before[state.best_update][k]), k


def test_sequence_loss_matches_reference():
    rng = np.random.default_rng(5)
    params, _, _ = random_state(rng, 20, 16)
    ids = rng.integers(0, 20, 300)
    total, count = model.sequence_loss(params, ids)
    want = reference.loss_only(params, ids[:-1], ids[1:], np.zeros(16))
    assert count == 299
    assert_close(total, want, RTOL, "sequence loss")


def test_sampling_kernels_agree_at_their_limits():
    """Nucleus sampling with a vanishing top-p keeps only the most likely character, so it must
    reproduce argmax (temperature 0) exactly; and plain sampling at a vanishing temperature
    converges to argmax too. The two sampling kernels share nothing but the hidden step."""
    from fastrnn.sample import sample_ids

    rng = np.random.default_rng(8)
    params, _, hprev = random_state(rng, 30, 20)
    params = {k: v * 20 for k, v in params.items()}      # peaked, distinct probabilities
    greedy = sample_ids(params, hprev, 3, 300, np.random.default_rng(0), temperature=0)
    nucleus = sample_ids(params, hprev, 3, 300, np.random.default_rng(0), top_p=1e-12)
    cold = sample_ids(params, hprev, 3, 300, np.random.default_rng(0), temperature=1e-6)
    assert np.array_equal(nucleus, greedy)
    assert np.array_equal(cold, greedy)
    assert len(set(greedy.tolist())) > 1                  # not a degenerate constant text


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
def test_aligned_arrays_start_on_a_cache_line(dtype):
    """The kernels' arrays start on 64-byte boundaries (NumPy promises 16): a W 16 bytes off
    made every vector load straddle two cache lines (~20% slower mat-vecs)."""
    for shape in [(1,), (7,), (100, 100), (65, 100), (3, 5, 7)]:
        a = model.aligned_zeros(shape, dtype)
        assert a.ctypes.data % model.ALIGN == 0 and a.flags.c_contiguous and a.flags.writeable
        assert a.shape == shape and a.dtype == dtype and not a.any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_params_layout_and_the_course_view(dtype):
    """Params: aligned C-contiguous arrays, U stored as (K, m); course() gives the course's
    shapes as views (U transposed), and from_course(course()) round-trips exactly."""
    course = {k: np.arange(np.prod(s), dtype=dtype).reshape(s)
              for k, s in model.param_shapes(5, 3).items()}
    p = Params.from_course(course)
    assert p.U.shape == (5, 3) and model.check_layout(p) == (5, 3, np.dtype(dtype))
    for k, a in p.items():
        assert a.ctypes.data % model.ALIGN == 0 and a.flags.c_contiguous, k
        assert np.array_equal(p.course()[k], course[k]) and np.shares_memory(p.course()[k], a)
    p["W"] += 1                  # dict-style writes go into the owned array
    assert np.array_equal(p.W, course["W"] + 1)
    assert all(np.array_equal(a, b) for a, b in zip(Params.from_course(p.course()), p))


def test_the_block_counts_the_characters_it_trained_on():
    """chars is the sum of the chunk lengths (short chunks of per-record training included),
    which is what the progress report's chars/s divides by; chunk and update advance."""
    rng = np.random.default_rng(2)
    K, m = 6, 4
    ids = rng.integers(0, K, 40).astype(np.int32)
    sched = model.Schedule(ids, np.array([0, 10, 14, 30], np.int64),
                           np.array([9, 3, 15, 9], np.int64), np.array([1, 1, 0, 1], np.bool_))
    p = Params.from_course(model.init_params(K, m, 0.1, 0))
    t = model.Trainee(p, Params.zeros(K, m, np.float64), p.copy(), np.zeros(m), np.zeros(m),
                      np.zeros(4), np.zeros(4))
    run = np.zeros(1, model.COUNTERS)
    run[0]["chunk"], run[0]["best_smooth"] = 1, np.inf
    done = kernels.train_block(t, run, model.Workspace.allocate(K, m, 15, np.float64), sched,
                               model.Hyper.of(0.1, 5.0, 1e-8, np.float64), 4)
    assert done == 3
    assert (run[0]["chars"], run[0]["chunk"], run[0]["update"]) == (3 + 15 + 9, 4, 3)


def test_a_misplaced_argument_is_a_typing_error():
    """Arguments are NamedTuples of distinct types: a swap fails to compile, never runs."""
    from numba.core.errors import TypingError

    p = Params.from_course(model.init_params(4, 3, 0.1, 0))
    ws = model.Workspace.allocate(4, 3, 2, np.float64)
    sched = model.Schedule.one_chunk(np.array([0, 1, 2], np.int32))
    with pytest.raises(TypingError):
        kernels.forward_backward(ws, p, sched, 0, np.zeros(3))


def test_python_calls_only_cached_entry_points():
    """Every kernel without a leading underscore (the ones Python calls) is cached on disk and
    not inline: an inline kernel called from Python compiles again in every process."""
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    entries = [name for name, f in vars(kernels).items()
               if isinstance(f, CPUDispatcher) and not name.startswith("_")]
    assert {"train_block", "forward_backward", "adagrad_dense", "sample", "sample_top_p",
            "prime", "sequence_loss"} <= set(entries)
    for name in entries:
        f = getattr(kernels, name)
        assert f.targetoptions.get("inline", "never") == "never", name
        assert not isinstance(f._cache, NullCache), name
