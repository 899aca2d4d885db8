"""The compiled network against PyTorch (an independent implementation), float64.

torch.nn.LSTM / GRU / RNN(tanh) + nn.Linear given our weights compute our loss and gradients
(sum over steps, mean over streams); one clipped Adam step equals torch.optim.Adam's.
"""
from __future__ import annotations

import numpy as np
import pytest

from fastrnn.network import Network

torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional oracle)")

K, M, T, B = 7, 5, 6, 3


def torch_model(net: Network):
    """The torch twin of net, with net's weights (see fastrnn.network for the mapping)."""
    kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[net.cell]
    rnn = kind(K, M, num_layers=net.layers).double()
    head = torch.nn.Linear(M, K).double()
    named = net.named()
    with torch.no_grad():
        for i in range(net.layers):
            getattr(rnn, f"weight_ih_l{i}").copy_(torch.from_numpy(named[f"l{i + 1}.W_x"].T.copy()))
            getattr(rnn, f"weight_hh_l{i}").copy_(torch.from_numpy(named[f"l{i + 1}.W_h"].T.copy()))
            getattr(rnn, f"bias_ih_l{i}").copy_(torch.from_numpy(named[f"l{i + 1}.b"]))
            bias_hh = np.zeros(net.info.gates * M)
            if net.info.has_b_hn:
                bias_hh[2 * M:] = named[f"l{i + 1}.b_hn"]
            getattr(rnn, f"bias_hh_l{i}").copy_(torch.from_numpy(bias_hh))
        head.weight.copy_(torch.from_numpy(named["W_y"].T.copy()))
        head.bias.copy_(torch.from_numpy(named["b_y"]))
    return rnn, head


def assert_close(got, want, what, rtol=1e-10):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300)
    assert err <= rtol, f"{what}: relative error {err:.3e}"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_loss_and_gradients_match_torch(cell, layers):
    rng = np.random.default_rng(1)
    net = Network(cell, K, M, layers)
    net.init(seed=2, sig=0.3)
    X, Y = rng.integers(0, K, (T, B)), rng.integers(0, K, (T, B))
    h0 = np.tanh(rng.standard_normal((layers, B, M)))
    c0 = rng.standard_normal((layers, B, M))
    loss = net.loss_and_grads(X, Y, net.workspace(T, B), h0=h0, c0=c0 if cell == "lstm" else None)
    rnn, head = torch_model(net)
    x = torch.nn.functional.one_hot(torch.from_numpy(X), K).double()
    state = torch.from_numpy(h0)
    state = (state, torch.from_numpy(c0)) if cell == "lstm" else state
    out, _ = rnn(x, state)
    logits = head(out).reshape(T * B, K)
    want = torch.nn.functional.cross_entropy(logits, torch.from_numpy(Y).reshape(-1),
                                             reduction="sum") / B
    want.backward()
    assert_close(loss, want.item(), "loss")
    g = net.named(net.grad)
    for i in range(layers):
        assert_close(g[f"l{i + 1}.W_x"].T, getattr(rnn, f"weight_ih_l{i}").grad, f"l{i + 1}.W_x")
        assert_close(g[f"l{i + 1}.W_h"].T, getattr(rnn, f"weight_hh_l{i}").grad, f"l{i + 1}.W_h")
        assert_close(g[f"l{i + 1}.b"], getattr(rnn, f"bias_ih_l{i}").grad, f"l{i + 1}.b")
        if net.info.has_b_hn:
            assert_close(g[f"l{i + 1}.b_hn"], getattr(rnn, f"bias_hh_l{i}").grad[2 * M:],
                         f"l{i + 1}.b_hn")
    assert_close(g["W_y"].T, head.weight.grad, "W_y")
    assert_close(g["b_y"], head.bias.grad, "b_y")


def test_clipped_adam_steps_match_torch_adam():
    """Three steps (bias corrections at t = 1, 2, 3) on the whole flat parameter buffer with the
    network's own gradients, clipped like ours, against torch.optim.Adam."""
    rng = np.random.default_rng(3)
    net = Network("lstm", K, M, 2)
    net.init(seed=4)
    hp = net.hyper("adam", eta=0.01, clip=0.05)
    theta = torch.from_numpy(net.theta.copy()).requires_grad_()
    opt = torch.optim.Adam([theta], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    ws = net.workspace(T, B)
    for step in (1, 2, 3):
        net.loss_and_grads(rng.integers(0, K, (T, B)), rng.integers(0, K, (T, B)), ws)
        assert np.abs(net.grad).max() > 0.05                       # the clip acts
        theta.grad = torch.from_numpy(net.grad.copy()).clamp_(-0.05, 0.05)
        opt.step()
        net.optimizer_step(hp, step)
        assert_close(net.theta, theta.detach().numpy(), f"theta after step {step}", 1e-12)
        state = opt.state[theta]
        assert_close(net.moments[0], state["exp_avg"].numpy(), "first moment", 1e-12)
        assert_close(net.moments[1], state["exp_avg_sq"].numpy(), "second moment", 1e-12)
