"""Throughput of the compiled cells engine (fastrnn.network) and of PyTorch on the same shapes.

float32. bench/conftest.py pins BLAS/OpenMP/Numba threads to one before imports; rows with
threads=2 run fastrnn's stream groups on two threads (Network.train_block(threads=2)) and
PyTorch with torch.set_num_threads(2), beside the one-thread rows of the same case. Each case
trains on the corpus along the stream schedule; compilation and a warm-up block are excluded
from the timing. PyTorch rows (nn.LSTM / nn.RNN + nn.Linear, the same optimizer, clamped
gradients) run when torch imports, and the summary prints the ratio to PyTorch with the same
thread count, and each 2-thread row's speed-up over its 1-thread row. pytest-benchmark's own
table groups the rounds per case (model size), so it compares like with like. test_paired
measures the one-thread ratio again from rounds of the two engines run in turn (the summary's
"x paired" column: the median ratio of the pairs, and its range): the figure to quote, as the
separate rows are timed minutes apart on a machine whose speed drifts.
FLOPs per character as docs/models.md counts them: 6 x weights touched per step (a one-hot
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
    "rnn m=100 B=64": ("rnn", 100, 1, 64, 25, "adagrad", 0.1),
    "lstm m=100 B=64": ("lstm", 100, 1, 64, 25, "adam", 2e-3),
    "lstm m=256 L=2 B=64 seq=100": ("lstm", 256, 2, 64, 100, "adam", 2e-3),
}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def flops_per_char(cell, m, layers, K):
    G = GATES[cell] * m
    total = 6 * G * (1 + m) + 6 * K * m
    for _ in range(1, layers):
        total += 6 * G * (m + m)
    return total


def case_flops(case, corpus):
    """FLOPs per character of a case on the corpus's vocabulary."""
    cell, m, layers = CASES[case][:3]
    return flops_per_char(cell, m, layers, len(corpus.vocab))


def seconds_budget():
    return 0.2 if QUICK else 4.0


def thread_counts(case):
    """1, and 2 where there are streams to split (B >= 2)."""
    return (1, 2) if CASES[case][3] >= 2 else (1,)


def block_updates(case):
    """Updates per timed round (fastrnn's train_block, PyTorch's loop alike): ~20k chars x
    weights of m = 100, so that a round is tens of milliseconds or more."""
    cell, m, layers, B, T = CASES[case][:5]
    return 2 if QUICK else max(2, 20000 // (T * B * max(1, m // 100) * layers))


PARAMS = [(case, threads) for case in CASES for threads in thread_counts(case)]


def _time(benchmark, case, step, chars):
    """Time rounds of `step` (each `chars` characters) for seconds_budget(); -> chars/s."""
    benchmark.group = case
    start = time.perf_counter()
    rounds = 0
    while time.perf_counter() - start < seconds_budget() / 2 or rounds < 2:
        step()
        rounds += 1
    benchmark.pedantic(step, rounds=max(2, rounds), iterations=1)
    return chars / benchmark.stats.stats.median


@pytest.fixture(autouse=True)
def _report(request):
    cells_report.register(request.config)


def fastrnn_round(case, threads, corpus):
    """fastrnn's trainer for case, compiled and warmed up: -> (round, chars a round)."""
    from fastrnn.network import Network

    cell, m, layers, B, T, optimizer, eta = CASES[case]
    K = len(corpus.vocab)
    net = Network(cell, K, m, layers, "float32")
    net.init(0)
    ws = net.workspace(T, B)
    hp = net.hyper(optimizer, eta=eta)
    block = block_updates(case)
    run = net.new_run(B, block)
    ids = corpus.ids.astype(np.uint8) if K <= 256 else corpus.ids
    net.train_block(ids, run, ws, hp, 1, threads=threads)     # compile (or load), warm up

    def step():
        assert net.train_block(ids, run, ws, hp, block, threads=threads) == block

    return step, block * T * B


def pytorch_round(case, threads, corpus, torch):
    """PyTorch's trainer for case (nn.LSTM / nn.RNN + nn.Linear, the same optimizer, clamped
    gradients), warmed up: -> (round, chars a round)."""
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
    block = block_updates(case)

    def step():
        for _ in range(block):
            update()

    return step, block * T * B


@pytest.mark.parametrize("case,threads", PARAMS)
def test_fastrnn(case, threads, corpus, benchmark):
    step, chars = fastrnn_round(case, threads, corpus)
    rate = _time(benchmark, case, step, chars)
    cells_report.ROWS[(case, f"fastrnn t{threads}")] = (rate, case_flops(case, corpus))


@pytest.mark.parametrize("case,threads", PARAMS)
def test_pytorch(case, threads, corpus, benchmark):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional)")
    torch.set_num_threads(threads)
    step, chars = pytorch_round(case, threads, corpus, torch)
    rate = _time(benchmark, case, step, chars)
    torch.set_num_threads(1)
    cells_report.ROWS[(case, f"pytorch t{threads}")] = (rate, case_flops(case, corpus))


def paired_rounds():
    """Round pairs of test_paired: enough that their median ratio is steady."""
    return 2 if QUICK else 7


@pytest.mark.parametrize("case", list(CASES))
def test_paired(case, corpus):
    """The ratio to PyTorch from rounds run in turn, one thread each: fastrnn, PyTorch,
    PyTorch, fastrnn, ... (the order flips each pair, so a drift of the machine's speed
    weighs on both alike). test_fastrnn and test_pytorch time each engine minutes apart, and
    a slow engine's few rounds (PyTorch at batch 1: two of ~1.5 s) move with what ran before
    them. The summary's "x paired" column is the median of the pairs' ratios."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional)")
    torch.set_num_threads(1)
    ours, chars = fastrnn_round(case, 1, corpus)
    theirs, torch_chars = pytorch_round(case, 1, corpus, torch)
    assert torch_chars == chars

    def timed(step):
        start = time.perf_counter()
        step()
        return time.perf_counter() - start

    ratios = []
    for pair in range(paired_rounds()):
        if pair % 2 == 0:
            t_ours, t_theirs = timed(ours), timed(theirs)
        else:
            t_theirs, t_ours = timed(theirs), timed(ours)
        ratios.append(t_theirs / t_ours)
    cells_report.PAIRED[case] = (float(np.median(ratios)), min(ratios), max(ratios))
