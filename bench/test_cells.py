"""Throughput of the compiled cells engine (fastrnn.network) and of PyTorch on the same shapes.

One thread (bench/conftest.py pins BLAS/OpenMP/Numba threads before imports), float32.
Each case trains on the corpus along the stream schedule; compilation and a warm-up block are
excluded from the timing. PyTorch rows (nn.LSTM / nn.RNN + nn.Linear, the same optimizer,
clamped gradients, torch.set_num_threads(1)) run when torch imports, and the summary prints
the ratio. FLOPs per character as DESIGN.md 1b: 6 x weights touched per step (a one-hot
input touches one row) + 6 K m for the output layer.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from . import cells_report
from .conftest import QUICK

# name: (cell, hidden, layers, streams, seq_length, optimizer, eta)
CASES = {
    "lstm m=100 B=1": ("lstm", 100, 1, 1, 25, "adam", 2e-3),
    "rnn m=100 B=32": ("rnn", 100, 1, 32, 25, "adagrad", 0.1),
    "lstm m=100 B=32": ("lstm", 100, 1, 32, 25, "adam", 2e-3),
    "lstm m=256 L=2 B=64 seq=100": ("lstm", 256, 2, 64, 100, "adam", 2e-3),
}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def flops_per_char(cell, m, layers, K):
    G = GATES[cell] * m
    total = 6 * G * (1 + m) + 6 * K * m
    for _ in range(1, layers):
        total += 6 * G * (m + m)
    return total


def seconds_budget():
    return 0.2 if QUICK else 4.0


@pytest.fixture(autouse=True)
def _report(request):
    cells_report.register(request.config)


@pytest.mark.parametrize("case", list(CASES))
def test_fastrnn(case, corpus):
    from fastrnn.network import Network

    cell, m, layers, B, T, optimizer, eta = CASES[case]
    K = len(corpus.vocab)
    net = Network(cell, K, m, layers, "float32")
    net.init(0)
    ws = net.workspace(T, B)
    hp = net.hyper(optimizer, eta=eta)
    block = 2 if QUICK else 20
    run = net.new_run(B, block)
    net.train_block(corpus.ids, run, ws, hp, 1)          # compile (or load) and warm up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds_budget():
        assert net.train_block(corpus.ids, run, ws, hp, block) == block
        done += block
    rate = done * T * B / (time.perf_counter() - start)
    cells_report.ROWS[(case, "fastrnn")] = (rate, flops_per_char(cell, m, layers, K))


@pytest.mark.parametrize("case", list(CASES))
def test_pytorch(case, corpus):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional)")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cell, m, layers, B, T, optimizer, eta = CASES[case]
    K = len(corpus.vocab)
    kind = torch.nn.LSTM if cell == "lstm" else torch.nn.RNN
    rnn = kind(K, m, num_layers=layers)
    head = torch.nn.Linear(m, K)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = (torch.optim.Adam(params, lr=eta) if optimizer == "adam"
           else torch.optim.Adagrad(params, lr=eta, eps=1e-8))
    ids = torch.as_tensor(corpus.ids.astype(np.int64))
    strip = ids.numel() // B
    per_epoch = (strip - 1) // T
    starts = torch.arange(B) * strip
    offsets = torch.arange(T)[:, None]
    shape = (layers, B, m)
    state = {"k": 0, "h": None}

    def update():
        k = state["k"] % per_epoch
        if k == 0:
            z = torch.zeros(shape)
            state["h"] = (z, z.clone()) if cell == "lstm" else z
        idx = starts[None, :] + k * T + offsets
        x = torch.nn.functional.one_hot(ids[idx], K).float()
        out, h = rnn(x, state["h"])
        loss = torch.nn.functional.cross_entropy(head(out).reshape(T * B, K),
                                                 ids[idx + 1].reshape(-1), reduction="sum") / B
        opt.zero_grad()
        loss.backward()
        for p in params:
            p.grad.clamp_(-5, 5)
        opt.step()
        state["h"] = tuple(s.detach() for s in h) if cell == "lstm" else h.detach()
        state["k"] += 1

    update()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds_budget():
        update()
        done += 1
    rate = done * T * B / (time.perf_counter() - start)
    cells_report.ROWS[(case, "pytorch")] = (rate, flops_per_char(cell, m, layers, K))
