"""Optional comparison with PyTorch (nn.RNN, batch 1, Adagrad, gradient clamp +-5).

Runs only where torch is installed (`pip install torch==2.13.0`, a CPU build, is available
offline on the team's machines); it is not a dependency of fastrnn.
"""
from __future__ import annotations

import pytest

from .conftest import QUICK, RESULTS


def test_pytorch_rnn(benchmark, corpus):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional)")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    K, m, tau = len(corpus.vocab), 100, 25
    rnn = torch.nn.RNN(K, m, nonlinearity="tanh", batch_first=False).double()
    head = torch.nn.Linear(m, K).double()
    params = list(rnn.parameters()) + list(head.parameters())
    for p in params:
        torch.nn.init.normal_(p, std=0.01) if p.dim() == 2 else torch.nn.init.zeros_(p)
    opt = torch.optim.Adagrad(params, lr=0.1, eps=1e-8)
    ids = torch.as_tensor(corpus.ids.astype("int64"))
    eye = torch.eye(K, dtype=torch.float64)
    n = 20 if QUICK else 400
    state = {"e": 0, "h": torch.zeros(1, 1, m, dtype=torch.float64)}

    def run():
        for _ in range(n):
            e = state["e"]
            if e + tau + 1 > ids.numel():
                e, state["h"] = 0, torch.zeros_like(state["h"])
            x = eye[ids[e:e + tau]].unsqueeze(1)
            out, h = rnn(x, state["h"])
            loss = torch.nn.functional.cross_entropy(head(out[:, 0]), ids[e + 1:e + tau + 1],
                                                     reduction="sum")
            opt.zero_grad()
            loss.backward()
            for p in params:
                p.grad.clamp_(-5, 5)
            opt.step()
            state["h"], state["e"] = h.detach(), e + tau

    benchmark.pedantic(run, rounds=3, iterations=1)
    RESULTS[("pytorch", "float64", m)] = 25 * n / benchmark.stats.stats.median
