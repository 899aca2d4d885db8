"""PyTorch's char-rnn recipe for the learning-quality comparison (not a pytest file): a 2-layer
LSTM of 256 units, 64 streams x 100 characters, Adam 2e-3, float32, trained for a wall-time
budget on all but the last 10% of a text; then the held-out loss per character, read as
`fastrnn eval` reads a text (batch 1, state from zero, carried through).

    python bench/torch_recipe.py tinyshakespeare.txt --minutes 5 --threads 2

Needs torch (pip install torch==2.13.0); prints one line of results.
"""
from __future__ import annotations

import argparse
import math
import time


def main():
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("text")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=100)
    ap.add_argument("--eta", type=float, default=2e-3)
    ap.add_argument("--updates", type=int, default=0, help="stop after this many (0: no limit)")
    ap.add_argument("--forget-bias", type=float, default=None,
                    help="set every layer's input-side forget-gate bias to this (default: torch's init)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    text = open(a.text, encoding="utf-8").read().replace("\r\n", "\n").replace("\r", "\n")
    cut = int(round(len(text) * 0.9))
    vocab = sorted(set(text))
    lookup = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    train, val = ids[:cut], ids[cut:]
    K = len(vocab)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(K, K)
            self.emb.weight.data = torch.eye(K)            # one-hot input, as char-rnn
            self.emb.weight.requires_grad_(False)
            self.rnn = torch.nn.LSTM(K, a.hidden, a.layers, batch_first=False)
            self.out = torch.nn.Linear(a.hidden, K)

        def forward(self, x, state=None):
            y, state = self.rnn(self.emb(x), state)
            return self.out(y), state

    net = Net()
    if a.forget_bias is not None:        # char-rnn's init on top of torch's (docs/models.md)
        with torch.no_grad():
            for layer in range(a.layers):
                getattr(net.rnn, f"bias_ih_l{layer}")[a.hidden:2 * a.hidden] = a.forget_bias
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=a.eta)
    strip = train.numel() // a.batch
    streams = train[:strip * a.batch].view(a.batch, strip).t().contiguous()   # (strip, B)
    per_epoch = (strip - 1) // a.seq
    state, k, updates, t0 = None, 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < a.minutes * 60 and (a.updates == 0 or updates < a.updates):
        if k == per_epoch:
            k, state = 0, None
        x = streams[k * a.seq:(k + 1) * a.seq]
        y = streams[k * a.seq + 1:(k + 1) * a.seq + 1]
        logits, state = net(x, state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, K), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(net.parameters(), 5.0)
        opt.step()
        k, updates = k + 1, updates + 1
    secs = time.perf_counter() - t0
    with torch.no_grad():
        total, state = 0.0, None
        for s in range(0, val.numel() - 1, 1000):
            x = val[s:min(s + 1000, val.numel() - 1)].view(-1, 1)
            y = val[s + 1:s + 1 + x.shape[0]].view(-1)
            logits, state = net(x, state)
            total += float(torch.nn.functional.cross_entropy(logits.view(-1, K), y,
                                                             reduction="sum"))
    nats = total / (val.numel() - 1)
    print(f"pytorch lstm {a.layers}x{a.hidden} B={a.batch} seq={a.seq} threads={a.threads}: "
          f"{updates} updates in {secs:.0f} s ({updates * a.batch * a.seq / secs:,.0f} chars/s); "
          f"held-out {nats:.4f} nats/char ({nats / math.log(2):.4f} bits/char)")


if __name__ == "__main__":
    main()
