"""The compiled network (fastrnn.network) against its plain NumPy twin (fastrnn.reference).

Every cell x layers {1, 2} x streams {1, 3} x optimizer, with and without dropout for two
layers: loss, every gradient and the final states of a chunk; then several training updates
in a row (epoch wrap included) compared on losses, smooth losses, parameters, optimizer
moments, carried states and the best-model snapshot. float64, relative error <= 1e-10.
"""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from fastrnn import reference as dd2424
from fastrnn.network import Network
from fastrnn.reference import network as refnet

RTOL = 1e-10
K, M = 6, 4
CASES = [(cell, layers, streams, dropout) for cell in ("rnn", "lstm", "gru") for layers in (1, 2)
         for streams in (1, 3) for dropout in ((0.0, 0.3) if layers == 2 else (0.0,))]


def assert_close(got, want, rtol, what):
    """|got - want| <= rtol * max|want| elementwise."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(np.max(np.abs(want)) if want.size else 0.0, 1e-300)
    err = np.max(np.abs(got - want)) / scale if want.size else 0.0
    assert err <= rtol, f"{what}: relative error {err:.3e} > {rtol:g}"


def make_net(cell, layers, seed=0, dtype="float64"):
    net = Network(cell, K, M, layers, dtype)
    net.init(seed, sig=0.3)       # the vanilla cell's default 0.01 would make gradients tiny
    return net


@pytest.mark.parametrize("cell,layers,streams,dropout", CASES)
def test_chunk_loss_gradients_and_states_match_reference(cell, layers, streams, dropout):
    rng = np.random.default_rng(hash((cell, layers, streams)) % 2**32)
    net = make_net(cell, layers)
    T = 5
    X, Y = rng.integers(0, K, (T, streams)), rng.integers(0, K, (T, streams))
    h0 = np.tanh(rng.standard_normal((layers, streams, M)))
    c0 = rng.standard_normal((layers, streams, M)) if cell == "lstm" else None
    ws = net.workspace(T, streams, dropout=dropout > 0)
    hp = net.hyper(dropout=dropout, seed=7)
    loss = net.loss_and_grads(X, Y, ws, hp, h0, c0, update=11)
    params = {k: v.copy() for k, v in net.named().items()}
    want_loss, want_grads, want_h, want_c = refnet.loss_and_grads(cell, params, X, Y, h0, c0,
                                                                  dropout, 7, 11)
    assert_close(loss, want_loss, RTOL, "loss")
    got = net.named(net.grad)
    assert set(got) == set(want_grads)
    for name in want_grads:
        assert np.abs(want_grads[name]).max() > 0, f"{name}: zero gradient tests nothing"
        assert_close(got[name], want_grads[name], RTOL, f"d{name}")
    assert_close(ws.H[:, T], want_h, RTOL, "final h")
    if cell == "lstm":
        assert_close(ws.C[:, T], want_c, RTOL, "final c")


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("cell,layers,streams,dropout", CASES)
def test_training_updates_match_reference(cell, layers, streams, dropout, optimizer):
    """Five updates over a schedule of two chunks per epoch: the states reset at update 2 and
    4, the optimizer moments carry over, and the best snapshot follows the smooth loss."""
    T, n = 4, 5
    rng = np.random.default_rng(3)
    ids = rng.integers(0, K, streams * (2 * T + 2)).astype(np.int32)   # 2 chunks per epoch
    net = make_net(cell, layers, seed=1)
    eta = 0.05 if optimizer != "adagrad" else 0.1
    kw = dict(optimizer=optimizer, eta=eta, clip=0.5, dropout=dropout, seed=9)
    hp = net.hyper(**kw)
    ws = net.workspace(T, streams, dropout=dropout > 0)
    run = net.new_run(streams, n)
    params = {k: v.copy() for k, v in net.named().items()}
    want = refnet.train(cell, params, ids, streams, T, n, **kw)
    assert net.train_block(ids, run, ws, hp, n) == n
    assert_close(run.losses[:n], want["losses"], RTOL, "losses")
    assert_close(run.smooths[:n], want["smooths"], RTOL, "smooth losses")
    got, moments = net.named(), (net.named(net.moments[0]), net.named(net.moments[1]))
    for name in got:
        assert_close(got[name], want["params"][name], RTOL, f"updated {name}")
        assert_close(moments[1][name], want["moments"]["v"][name], RTOL, f"second moment {name}")
        if optimizer == "adam":
            assert_close(moments[0][name], want["moments"]["m"][name], RTOL, f"first moment {name}")
    assert_close(run.h, want["h"], RTOL, "carried h")
    if cell == "lstm":
        assert_close(run.c, want["c"], RTOL, "carried c")
    assert run.istate[0] == n and run.istate[1] == want["best_update"]
    assert run.istate[2] == want["best_x0"] and run.istate[4] == (n - 1) // 2
    best = net.named(net.best)
    for name in best:
        assert_close(best[name], want["best"][name], RTOL, f"best {name}")
    assert_close(run.best_h, want["best_h"], RTOL, "best h")


def test_vanilla_one_layer_is_dd2424_exactly():
    """rnn x 1 layer x 1 stream x adagrad reproduces the min-char-rnn reference trajectory:
    U = W_x.T, W = W_h.T, V = W_y.T, b, c = b_y; same init draws from the same seed."""
    rng = np.random.default_rng(4)
    Kd, m, T, n = 9, 7, 6, 12
    ids = rng.integers(0, Kd, 40).astype(np.int32)          # 6 chunks per epoch: wraps once
    params = dd2424.init_params(Kd, m, 0.01, seed=5)
    net = Network("rnn", Kd, m, 1)
    net.init(seed=5, sig=0.01)
    named = net.named()
    for mine, theirs in [("l1.W_x", "U"), ("l1.W_h", "W"), ("W_y", "V")]:
        assert np.array_equal(named[mine], params[theirs].T), f"init of {mine}"
    _, losses = dd2424.train(ids, Kd, n, hidden=m, seq_length=T, params=params)
    run = net.new_run(1, n)
    assert net.train_block(ids, run, net.workspace(T, 1), net.hyper(), n) == n
    assert_close(run.losses[:n], losses, RTOL, "losses")
    for mine, theirs in [("l1.W_x", "U"), ("l1.W_h", "W"), ("W_y", "V"), ("l1.b", "b"),
                         ("b_y", "c")]:
        want = params[theirs].T if params[theirs].ndim == 2 else params[theirs]
        assert_close(named[mine], want, RTOL, f"{mine} vs {theirs}")


def test_dropout_masks_drop_the_right_fraction_and_vary():
    a = refnet.dropout_mask(1, 0, 0, 50, 4, 100, 0.3)
    assert abs((a == 0).mean() - 0.3) < 0.02 and np.allclose(a[a > 0], 1 / 0.7)
    for other in [refnet.dropout_mask(1, 1, 0, 50, 4, 100, 0.3),
                  refnet.dropout_mask(1, 0, 1, 50, 4, 100, 0.3),
                  refnet.dropout_mask(2, 0, 0, 50, 4, 100, 0.3)]:
        assert (a != other).mean() > 0.3


def test_dropout_changes_the_loss_only_in_training():
    net = make_net("lstm", 2)
    rng = np.random.default_rng(0)
    X, Y = rng.integers(0, K, (5, 2)), rng.integers(0, K, (5, 2))
    ws = net.workspace(5, 2, dropout=True)
    plain = net.loss_and_grads(X, Y, ws, net.hyper())
    evaluated = net.loss_and_grads(X, Y, ws, net.hyper(dropout=0.5), train=False)
    dropped = net.loss_and_grads(X, Y, ws, net.hyper(dropout=0.5))
    assert plain == evaluated and dropped != plain


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_float32_is_close_to_float64(cell):
    rng = np.random.default_rng(2)
    n64, n32 = make_net(cell, 2), make_net(cell, 2, dtype="float32")
    X, Y = rng.integers(0, K, (6, 3)), rng.integers(0, K, (6, 3))
    l64 = n64.loss_and_grads(X, Y, n64.workspace(6, 3))
    l32 = n32.loss_and_grads(X, Y, n32.workspace(6, 3))
    assert_close(l32, l64, 1e-5, "loss")
    assert_close(n32.grad, n64.grad, 1e-4, "gradient")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_float32_gate_keeps_its_value_when_nearly_closed(cell):
    """A gate driven far below zero (bias -20: σ ~ 2e-9) keeps its value in float32, relative
    to it, and with it its gradient σ(1 - σ): the cells once computed σ as 1/2 + 1/2 tanh(x/2),
    which cancels to exactly 0 there (fastrnn.vecmath)."""
    rng = np.random.default_rng(3)
    X, Y = rng.integers(0, K, (4, 1)), rng.integers(0, K, (4, 1))
    gates = []
    for dtype in ("float64", "float32"):
        net = make_net(cell, 1, dtype=dtype)
        net.params.b[0][M:2 * M] = -20.0        # the LSTM's forget gate, the GRU's update gate
        ws = net.workspace(4, 1)
        net.loss_and_grads(X, Y, ws)
        gates.append(ws.A[0][:, :, M:2 * M].astype(np.float64))   # the activations
    want, got = gates
    assert np.all(want < 1e-7)
    assert np.all(got > 0)
    assert np.max(np.abs(got / want - 1)) < 1e-5


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sequence_loss_matches_reference(cell):
    rng = np.random.default_rng(6)
    net = make_net(cell, 2)
    ids = rng.integers(0, K, 60).astype(np.int32)
    total, count = net.sequence_loss(ids)
    zeros = np.zeros((2, 1, M))
    want = refnet.loss_only(cell, net.named(), ids[:-1, None], ids[1:, None], zeros, zeros)
    assert count == 59
    assert_close(total, want, RTOL, "sequence loss")
    resets = np.zeros(60, np.bool_)
    resets[30] = True                      # a document starts at 30: 29 -> 30 is not predicted
    total, count = net.sequence_loss(ids, resets)
    want = (refnet.loss_only(cell, net.named(), ids[:29, None], ids[1:30, None], zeros, zeros)
            + refnet.loss_only(cell, net.named(), ids[30:-1, None], ids[31:, None], zeros, zeros))
    assert count == 58
    assert_close(total, want, RTOL, "sequence loss with a reset")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sequence_loss_over_many_chunks_and_documents_matches_reference(cell):
    """The text is scored in chunks of EVAL_STEPS steps per forward pass: documents longer than
    a chunk (the state carried across chunk boundaries), a document of one character (nothing
    to predict), documents starting mid-chunk, a last chunk padded."""
    from fastrnn.network import EVAL_STEPS

    rng = np.random.default_rng(7)
    net = make_net(cell, 2)
    n = 2 * EVAL_STEPS + 90
    ids = rng.integers(0, K, n).astype(np.int32)
    starts = [0, 30, 31, EVAL_STEPS + 50, n - 2]          # documents ids[a:b]
    resets = np.zeros(n, np.bool_)
    resets[starts] = True
    total, count = net.sequence_loss(ids, resets)
    zeros = np.zeros((2, 1, M))
    want, predicted = 0.0, 0
    for a, b in zip(starts, starts[1:] + [n]):
        if b - a >= 2:
            want += refnet.loss_only(cell, net.named(), ids[a:b - 1, None], ids[a + 1:b, None],
                                     zeros, zeros)
            predicted += b - a - 1
    assert count == predicted == n - len(starts)
    assert_close(total, want, RTOL, "sequence loss over chunks")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sampling_limits_agree_and_follow_the_forward_pass(cell):
    """Greedy sampling = nucleus with a vanishing top-p = a vanishing temperature; and the
    greedy choice is the argmax of the reference model's output step by step."""
    net = make_net(cell, 2)
    net.theta *= 4.0                                   # peaked, distinct probabilities
    greedy, h, _ = net.sample(2, 40, np.random.default_rng(0), temperature=0.0)
    nucleus, _, _ = net.sample(2, 40, np.random.default_rng(0), top_p=1e-12)
    cold, _, _ = net.sample(2, 40, np.random.default_rng(0), temperature=1e-6)
    assert np.array_equal(nucleus, greedy) and np.array_equal(cold, greedy)
    params = net.named()
    ref = net.info.reference_module()
    state = [tuple(np.zeros(M) for _ in range(ref.STATES)) for _ in range(2)]
    x_id = 2
    for t in range(40):
        x = np.eye(K)[x_id]
        for layer in range(2):
            state[layer], _ = ref.step(refnet.layer_params(params, layer + 1), x, state[layer])
            x = state[layer][0]
        x_id = int(np.argmax(x @ params["W_y"] + params["b_y"]))
        assert greedy[t] == x_id, f"step {t}"
    assert_close(h, np.stack([s[0] for s in state]), RTOL, "final h")
    drawn, _, _ = net.sample(2, 400, np.random.default_rng(1))
    assert len(set(drawn.tolist())) > 1


def test_a_second_process_loads_the_kernels_from_the_cache():
    """cache=True keeps working with NamedTuple arguments: once compiled (this process), a
    fresh interpreter runs training blocks of one stream (train_block) and of stream groups
    (stream_group, finish_update) without compiling (cache hits, a few seconds)."""
    code = ("import numpy as np, time; t = time.time()\n"
            "from fastrnn.network import Network\n"
            "net = Network('lstm', 6, 4, 2); net.init(0)\n"
            "ids = np.arange(100, dtype=np.int32) % 6\n"
            "for B in (1, 2):\n"
            "    net.train_block(ids, net.new_run(B, 3), net.workspace(5, B), net.hyper('adam'), 3)\n"
            "k = net.kernels\n"
            "hits = [len(f.stats.cache_hits) for f in (k.train_block, k.stream_group, k.finish_update)]\n"
            "print(sum(hits), time.time() - t)\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm the cache
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    hits, seconds = out.stdout.split()
    assert int(hits) == 3, out.stderr
    assert float(seconds) < 10 and time.time() - start < 20
