"""CI only: compile fastrnn's kernels into NUMBA_CACHE_DIR before the tests run.

Compilation is single-threaded and most of a cold test run; .ci/run starts two of these
processes on different shares of the kernels, so a 2-core CI machine compiles on both cores
and pytest then loads everything from the cache. Each call below takes the same types as the
library's own calls (ids as int32, the workspaces of fastrnn.network), so the cache entries
are the ones the tests and benchmarks look up.

    python .ci/warm_cache.py lstm            # the LSTM kernels, float64 and float32
    python .ci/warm_cache.py gru rnn dd2424  # ...; dd2424: the course engine's kernels
"""
from __future__ import annotations

import sys

import numpy as np

DTYPES = ("float64", "float32")


def network(cell: str, dtype: str) -> None:
    from fastrnn.network import Network

    ids = (np.arange(200) % 5).astype(np.int32)
    net = Network(cell, vocab_size=5, hidden=3, layers=2, dtype=dtype)
    net.init(0)
    for B in (1, 2):               # B = 1: one compiled block; B >= 2: stream groups
        ws, run = net.workspace(4, B, dropout=True), net.new_run(B, 2)
        net.train_block(ids, run, ws, net.hyper("adam", eta=1e-3, dropout=0.1), 2)
    ws = net.workspace(4, 1)
    net.loss_and_grads(ids[:4, None], ids[1:5, None], ws)
    rng = np.random.default_rng(0)
    net.sample(0, 3, rng)
    net.sample(0, 3, rng, top_p=0.9)
    net.sequence_loss(ids)


def dd2424(dtype: str) -> None:
    from fastrnn.model import init_params
    from fastrnn.sample import sample_ids
    from fastrnn.train import warmup

    warmup(dtype, validation=True)             # training block, evaluation, sampling
    p = init_params(5, 3, 0.01, 0, dtype)
    sample_ids(p, np.zeros(3, dtype), 0, 3, np.random.default_rng(0), top_p=0.9)


def main(shares: list[str]) -> None:
    for share in shares:
        for dtype in DTYPES:
            dd2424(dtype) if share == "dd2424" else network(share, dtype)


if __name__ == "__main__":
    main(sys.argv[1:])
