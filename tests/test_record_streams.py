"""Per-record training on the general engine: streams take whole records (fastrnn.streams
.record_table), short chunks are padded, a stream resets at each record start.

The table against data.chunk_schedule (B = 1) and its invariants (B = 3); the compiled
network in record mode against the NumPy reference (padding, per-stream resets, lstm and gru,
B = 1 and 3) and against the DD2424 engine itself (vanilla cell, one stream, AdaGrad); thread
counts; and the CLI end to end: train, exact resume, `sample --records`, `info`.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from fastrnn import TrainConfig, new_state, train
from fastrnn.checkpoint import load_state
from fastrnn.data import END_OF_RECORD, Corpus, chunk_schedule, predicted_chars_per_update
from fastrnn.network import Network
from fastrnn.reference import network as refnet
from fastrnn.streams import record_table

from .clitools import run

RTOL = 1e-10
T = 4
# record lengths (end-of-record symbols included): shorter than T, T, T+1 (exactly one full
# chunk), 2T+1, in between and longer
LENGTHS = [3, 4, 5, 9, 6, 13, 4, 7, 21, 5, 2 * T + 1, 3]


def _corpus(lengths=LENGTHS, K=6, seed=0) -> Corpus:
    """Records of the given lengths, each between end-of-record symbols (id 0)."""
    rng = np.random.default_rng(seed)
    ids, starts = [], []
    for n in lengths:
        starts.append(len(ids))
        ids += [0] + list(rng.integers(1, K, n - 2)) + [0]
    return Corpus("records", "abcdef"[:K], np.array(ids, np.int32), np.array(starts, np.int64))


def assert_close(got, want, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(np.max(np.abs(want)), 1e-300)
    err = np.max(np.abs(got - want)) / scale
    assert err <= RTOL, f"{what}: relative error {err:.3e} > {RTOL:g}"


def test_one_stream_table_is_the_dd2424_schedule():
    corpus = _corpus()
    for T_ in (1, 3, T, 8, 30):
        want = chunk_schedule(corpus, T_, partial_tail=True)
        got = record_table(corpus, 1, T_)
        for a, b, name in zip(got, want, ("starts", "lengths", "resets")):
            assert a.shape == (b.size, 1), name
            assert np.array_equal(a[:, 0], b), (T_, name)


def test_three_streams_take_whole_records_in_order():
    corpus = _corpus()
    starts, lengths, resets = record_table(corpus, 3, T)
    want_s, want_l, want_r = chunk_schedule(corpus, T, partial_tail=True)
    doc_of = np.searchsorted(corpus.doc_starts, want_s, side="right") - 1
    seen = []
    for s in range(3):
        valid = lengths[:, s] > 0
        n = int(valid.sum())
        assert valid[:n].all() and not valid[n:].any(), "idle slots only at the end"
        assert not resets[n:, s].any()
        seen.append(list(zip(starts[:n, s], lengths[:n, s], resets[:n, s])))
    flat = sorted(c for stream in seen for c in stream)
    assert flat == sorted(zip(want_s, want_l, want_r)), "every chunk exactly once"
    for stream in seen:             # whole records, each in its order, resets at its start
        docs = np.searchsorted(corpus.doc_starts, [c[0] for c in stream], side="right") - 1
        for d in np.unique(docs):
            mine = [c for c, dd in zip(stream, docs) if dd == d]
            assert mine == [c for c, dd in zip(zip(want_s, want_l, want_r), doc_of) if dd == d]
        assert [bool(c[2]) for c in stream] == [i == 0 or docs[i] != docs[i - 1]
                                                for i in range(len(stream))]
    # greedy: each record to the stream with the fewest chunks so far (ties: lowest)
    counts, owner = [0, 0, 0], []
    for d in range(corpus.doc_starts.size):
        s = min(range(3), key=lambda i: (counts[i], i))
        owner.append(s)
        counts[s] += int(np.sum(doc_of == d))
    for s in range(3):
        docs = np.searchsorted(corpus.doc_starts, [c[0] for c in seen[s]], side="right") - 1
        assert list(np.unique(docs)) == [d for d in range(len(owner)) if owner[d] == s]
    assert starts.shape[0] == max(counts)
    assert predicted_chars_per_update((starts, lengths, resets)) == \
        want_l.sum() / (3 * starts.shape[0])


@pytest.mark.parametrize("cell,layers,streams,optimizer,dropout", [
    ("lstm", 1, 1, "adam", 0.0), ("gru", 1, 1, "rmsprop", 0.0), ("lstm", 2, 3, "adam", 0.3),
    ("gru", 2, 3, "adagrad", 0.0), ("rnn", 1, 3, "adagrad", 0.0)])
def test_record_mode_matches_the_reference(cell, layers, streams, optimizer, dropout):
    """Past an epoch end: losses, parameters, moments, carried states and the best model."""
    corpus = _corpus()
    table = record_table(corpus, streams, T)
    n = table[0].shape[0] + 3
    net = Network(cell, 6, 4, layers, "float64")
    net.init(2, sig=0.3)
    params = {k: v.copy() for k, v in net.named().items()}
    kw = dict(optimizer=optimizer, eta=0.05, clip=0.5, dropout=dropout, seed=9)
    run_ = net.new_run(streams, n)
    ws = net.workspace(T, streams, dropout=dropout > 0)
    assert net.train_block(corpus.ids, run_, ws, net.hyper(**kw), n, table=table) == n
    want = refnet.train(cell, params, corpus.ids, streams, T, n, table=table, **kw)
    assert_close(run_.losses[:n], want["losses"], "losses")
    assert_close(run_.smooths[:n], want["smooths"], "smooth losses")
    moments = net.named(net.moments[1])
    for name, value in net.named().items():
        assert_close(value, want["params"][name], f"updated {name}")
        assert_close(moments[name], want["moments"]["v"][name], f"moment {name}")
    assert_close(run_.h, want["h"], "carried h")
    if cell == "lstm":
        assert_close(run_.c, want["c"], "carried c")
    assert run_.istate[1] == want["best_update"] and run_.istate[2] == want["best_x0"]
    for name, value in net.named(net.best).items():
        assert_close(value, want["best"][name], f"best {name}")
    assert_close(run_.best_h, want["best_h"], "best h")


def test_one_chunk_gradient_with_padding_matches_the_reference():
    """Padded steps add no loss and no gradient; the final state is the last valid step's."""
    rng = np.random.default_rng(1)
    net = Network("lstm", 6, 4, 2, "float64")
    net.init(0, sig=0.3)
    X = rng.integers(0, 6, (5, 3))
    Y = rng.integers(0, 6, (5, 3))
    Y[3:, 0] = -1
    Y[:, 2] = -1                                   # an idle stream
    h0 = np.tanh(rng.standard_normal((2, 3, 4)))
    c0 = rng.standard_normal((2, 3, 4))
    ws = net.workspace(5, 3)
    loss = net.loss_and_grads(X, Y, ws, net.hyper(), h0, c0)
    params = {k: v.copy() for k, v in net.named().items()}
    want_loss, want_grads, _, _ = refnet.loss_and_grads("lstm", params, X, Y, h0, c0)
    assert_close(loss, want_loss, "loss")
    for name, g in net.named(net.grad).items():
        assert_close(g, want_grads[name], f"d{name}")
    assert np.all(ws.P[3:, 0] == 0) and np.all(ws.P[:, 2] == 0), "padded gradient rows"


def test_vanilla_one_stream_is_the_dd2424_engine_exactly():
    """rnn x 1 layer x 1 stream x AdaGrad in record mode follows fastrnn.train's per-record
    trajectory (from the same initial parameters) through an epoch end."""
    corpus = _corpus()
    per_epoch = chunk_schedule(corpus, T, partial_tail=True)[0].size
    n = per_epoch + 4
    cfg = TrainConfig(hidden=5, seq_length=T, reset_per_record=True, max_updates=n,
                      epochs=3, sample_every=0, checkpoint_every=0, eta=0.1, sig=0.3)
    state = new_state(corpus, cfg)
    course = {k: v.copy() for k, v in state.params.course().items()}
    net = Network("rnn", 6, 5, 1, "float64")
    net.set_named({"l1.W_x": course["U"].T, "l1.W_h": course["W"].T, "l1.b": course["b"],
                   "W_y": course["V"].T, "b_y": course["c"]})
    net.best[...] = net.theta
    train(state, corpus)
    assert state.update == n
    run_ = net.new_run(1, n)
    hp = net.hyper("adagrad", eta=cfg.eta, clip=cfg.clip, eps=cfg.eps)
    assert net.train_block(corpus.ids, run_, net.workspace(T, 1), hp, n,
                           table=record_table(corpus, 1, T)) == n
    assert_close(run_.losses[:n], state.loss_history[:n], "losses")
    got = net.named()
    after = state.params.course()
    for mine, theirs in [("l1.W_x", "U"), ("l1.W_h", "W"), ("W_y", "V"), ("l1.b", "b"),
                         ("b_y", "c")]:
        want = after[theirs].T if after[theirs].ndim == 2 else after[theirs]
        assert_close(got[mine], want, f"{mine} vs {theirs}")
    assert_close(run_.h[0, 0], state.hprev, "carried h")
    assert run_.istate[1] == state.best_update and run_.istate[2] == state.best_x0


def _threaded(threads, n=19):
    """Through an epoch end (16 updates: idle streams and padded chunks)."""
    corpus = _corpus(LENGTHS * 3)
    net = Network("gru", 6, 5, 2, "float64")
    net.init(1, sig=0.3)
    B = 5
    hp = net.hyper("adam", eta=0.01, dropout=0.2, seed=3)
    run_ = net.new_run(B, n)
    ws = net.workspace(T, B, dropout=True)
    assert net.train_block(corpus.ids.astype(np.uint8), run_, ws, hp, n, threads=threads,
                           table=record_table(corpus, B, T)) == n
    return net, run_


def test_record_mode_is_bit_identical_for_any_thread_count():
    net1, run1 = _threaded(1)
    for threads in (2, 3):
        net, run_ = _threaded(threads)
        assert np.array_equal(run_.losses, run1.losses), threads
        assert np.array_equal(net.theta, net1.theta) and np.array_equal(net.moments, net1.moments)
        assert np.array_equal(net.best, net1.best) and np.array_equal(run_.h, run1.h)
        assert np.array_equal(run_.istate, run1.istate)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    d = tmp_path_factory.mktemp("recstreams")
    rng = np.random.default_rng(0)
    words = ["short", "tweets", "end", "here", "now", "ok"]
    recs = [{"text": " ".join(rng.choice(words, rng.integers(1, 6)))} for _ in range(24)]
    path = d / "recs.json"
    path.write_text(json.dumps(recs))
    return path


def test_cli_trains_resumes_and_samples_records_with_streams(records, tmp_path):
    args = ["train", records, "--reset-per-record", "--cell", "lstm", "--batch", 3,
            "--hidden", 8, "--seq-length", 10, "--sample-every", 10, "--checkpoint-every", 0,
            "-q"]
    once, twice = tmp_path / "once.h5", tmp_path / "twice.h5"
    run(*args, "--max-updates", 30, "-o", once)
    run(*args, "--max-updates", 13, "-o", twice)
    run(*args, "--max-updates", 30, "--resume", twice, "--threads", 2)
    a, b = load_state(str(once)), load_state(str(twice))
    assert a.update == b.update == 30 and a.epoch >= 1            # past an epoch end
    for x, y in [(a.net.theta, b.net.theta), (a.net.moments, b.net.moments),
                 (a.net.best, b.net.best), (a.run.h, b.run.h), (a.run.c, b.run.c),
                 (a.loss_history[:30], b.loss_history[:30])]:
        assert np.array_equal(x, y)
    assert (a.chunk, a.epoch, a.best_update, a.next_x0, a.samples) == \
        (b.chunk, b.epoch, b.best_update, b.next_x0, b.samples)
    assert 0 < a.config.chars_per_update < 10
    out = run("sample", once, "--records", 2, "-n", 80, "--seed", 1).output
    lines = out.split("\n")
    assert len(lines) == 3 and lines[-1] == "" and END_OF_RECORD not in out, out
    info = run("info", once).output
    assert "one document per record" in info and "3 streams" in info


def test_held_out_records_are_whole(tmp_path):
    """--val-frac on per-record text cuts at the record start nearest to the fraction: every
    held-out record starts with its end-of-record symbol and is scored whole. A checkpoint
    from before (cut inside a record) resumes with its own cut."""
    from fastrnn.data import read_corpus, split_validation

    path = tmp_path / "recs.json"
    path.write_text(json.dumps([{"text": "record number %d, " % i * (1 + i % 3)}
                                for i in range(40)]))
    corpus = read_corpus(str(path), reset_per_record=True)
    eor = corpus.vocab.index(END_OF_RECORD)
    nominal = int(round(corpus.n_chars * 0.9))
    assert nominal not in corpus.doc_starts                 # the fraction falls in a record
    train_part, val = split_validation(corpus, 0.1, 25)
    assert train_part.n_chars in corpus.doc_starts
    assert abs(train_part.n_chars - nominal) <= max(np.diff(corpus.doc_starts))
    assert train_part.ids[-1] == eor and val.ids[0] == eor
    assert train_part.n_chars + val.n_chars == corpus.n_chars
    for start, end in val.doc_bounds():                      # whole records, ␞ ... ␞
        assert val.ids[start] == eor and val.ids[end - 1] == eor
    legacy, _ = split_validation(corpus, 0.1, 25, train_chars=nominal)
    assert legacy.n_chars == nominal


def test_a_few_long_records_keep_the_asked_fraction(tmp_path):
    """The nearest record start would hold out 20% where 5% was asked: the cut stays at the
    point, inside the last record."""
    from fastrnn.data import read_corpus, split_validation

    path = tmp_path / "long.json"
    path.write_text(json.dumps([{"text": "abcdefghij" * 2000} for _ in range(5)]))
    corpus = read_corpus(str(path), reset_per_record=True)
    train_part, val = split_validation(corpus, 0.05, 25)
    assert train_part.n_chars == int(round(corpus.n_chars * 0.95))
    assert train_part.n_chars not in corpus.doc_starts
