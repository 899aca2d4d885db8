"""How far the compiled DD2424 engine and the plain NumPy reference drift apart over many
updates, from the same starting weights, on the built-in corpus (docs/algorithm.md quotes it).

    python bench/drift_reference.py [updates] [hidden]

Prints the largest loss difference over the first 10, 20, 50, ... updates, and the same for
the reference against itself started one unit in the last place away (every weight of U, W,
V), then the three runs' smooth losses: if the two columns grow alike, the drift is rounding
that training amplifies (AdaGrad's first steps are ~eta times the sign of each gradient
element, and the sign of a near-zero one is rounding's), not a difference of algorithm. Not a
test (tests/test_kernels.py checks one update to ~1e-12).
"""
from __future__ import annotations

import sys

import numpy as np


def main(updates: int = 400, hidden: int = 32) -> None:
    from fastrnn import TrainConfig, new_state, read_corpus, train
    from fastrnn.reference import rnn as reference

    corpus = read_corpus(None)
    state = new_state(corpus, TrainConfig(hidden=hidden, max_updates=updates, sample_every=0))
    start = {k: v.copy() for k, v in state.params.course().items()}
    train(state, corpus)
    ours = state.loss_history[:updates]

    def reference_losses(params):
        return np.array(reference.train(corpus.ids, len(corpus.vocab), updates, hidden=hidden,
                                        params=params)[1])

    theirs = reference_losses({k: v.copy() for k, v in start.items()})
    nudged = {k: v.copy() for k, v in start.items()}
    for name in ("U", "W", "V"):                                      # one ulp each
        nudged[name] = np.nextafter(nudged[name], np.inf)
    moved = reference_losses(nudged)
    print(f"DD2424 engine vs NumPy reference, m={hidden}, built-in corpus, "
          f"|loss difference| (the loss of an update is ~{ours[0]:.0f} nats)")
    print(f"{'first updates':>14} {'engine vs reference':>20} {'reference vs 1 ulp':>20}")
    for n in sorted({10, 20, 50, 100, 200, updates} & set(range(1, updates + 1))):
        print(f"{n:>14,} {np.max(np.abs(ours[:n] - theirs[:n])):>20.2e} "
              f"{np.max(np.abs(theirs[:n] - moved[:n])):>20.2e}")

    def smooth(losses):
        s = losses[0]
        for loss in losses:
            s = 0.999 * s + 0.001 * loss
        return s

    print(f"smooth loss after {updates:,} updates: engine {smooth(ours):.3f}, reference "
          f"{smooth(theirs):.3f}, reference started 1 ulp away {smooth(moved):.3f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
