"""A running trainer (issue "never lose training, part 2", items 5-7): SIGHUP saves like
SIGTERM, a second writer on the same --out is refused while the first runs, and a stop
request is honoured within a fraction of a second and wins over a diverging block.
"""
from __future__ import annotations

import importlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from fastrnn.checkpoint import load_state
from fastrnn.cli import cli
from fastrnn.config import TrainConfig
from fastrnn.data import builtin_text, read_corpus
from fastrnn.errors import FastrnnError
from fastrnn.runlock import RunLock
from fastrnn.train import Callbacks, new_state, train, warmup

from .clitools import one_line_error

train_module = importlib.import_module("fastrnn.train")
TIMEOUT = 300


@pytest.fixture(scope="module")
def long_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "long.txt"
    path.write_text(builtin_text()[:150_000], encoding="utf-8")
    warmup("float64")
    return str(path)


def spawn(args, cwd, log):
    with open(log, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "fastrnn", "train", *map(str, args)],
                                cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)


def wait_for(proc, log, text="training on "):
    deadline = time.monotonic() + TIMEOUT
    while text not in open(log).read():
        assert proc.poll() is None, open(log).read()
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_sighup_saves_like_sigterm(long_text, tmp_path):
    log = tmp_path / "err.txt"
    # no periodic checkpoint: everything the run did is lost unless the signal saves it
    proc = spawn([long_text, "-o", "ck.h5", "--hidden", 16, "--epochs", 20,
                  "--checkpoint-every", 0, "--sample-every", 0], tmp_path, log)
    wait_for(proc, log)
    time.sleep(0.3)
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(TIMEOUT) == 128 + signal.SIGHUP
    assert "Traceback" not in open(log).read()
    assert load_state(str(tmp_path / "ck.h5")).update > 0


def test_a_second_writer_on_the_same_out_is_refused(long_text, tmp_path, monkeypatch):
    log = tmp_path / "err.txt"
    proc = spawn([long_text, "-o", "ck.h5", "--hidden", 16, "--epochs", 20,
                  "--checkpoint-every", 300, "--sample-every", 0], tmp_path, log)
    try:
        wait_for(proc, log)
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["train", long_text, "-o", "ck.h5", "--overwrite",
                                          "--hidden", 8, "-q"], catch_exceptions=False)
        assert one_line_error(result) == (
            f"Error: ck.h5 is being written by another fastrnn run (PID {proc.pid}); wait for "
            "it to end or choose another --out")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(TIMEOUT)
    with RunLock(str(tmp_path / "ck.h5")):         # released at the end of the run
        with pytest.raises(FastrnnError, match=r"another fastrnn run \(PID \d+\)"):
            RunLock(str(tmp_path / "ck.h5")).acquire()


class StopAfter(Callbacks):
    """Asks to stop once `after` seconds have passed; records when progress is reported."""

    def __init__(self, after=None, stop_on_call=None):
        self.after, self.stop_on_call, self.calls = after, stop_on_call, 0
        self.t0 = time.perf_counter()
        self.stamps = []

    def on_progress(self, state, speed):
        self.stamps.append(time.perf_counter())

    def should_stop(self):
        self.calls += 1
        if self.stop_on_call is not None:
            return self.calls >= self.stop_on_call
        return time.perf_counter() - self.t0 > self.after


def test_stop_is_honoured_within_a_fraction_of_a_second(small_text, monkeypatch):
    """A slow model (each update made to take 5 ms): a block of 500 updates took 2.5 s."""
    real = train_module.kernels.train_block

    def slow(trainee, run, ws, sched, hyper, k1):
        time.sleep(0.005 * (k1 - int(run[0]["chunk"])))
        return real(trainee, run, ws, sched, hyper, k1)

    monkeypatch.setattr(train_module.kernels, "train_block", slow)
    corpus = read_corpus(small_text)
    cb = StopAfter(after=0.5)
    t0 = time.perf_counter()
    state = train(new_state(corpus, TrainConfig(hidden=8, epochs=50, sample_every=0)), corpus,
                  callbacks=cb)
    assert state.interrupted
    assert time.perf_counter() - t0 < 0.5 + 1.0
    gaps = np.diff(cb.stamps)
    assert gaps.size and gaps.max() < 1.0


def test_an_interrupt_wins_over_divergence_and_saves_the_finite_state(small_text):
    corpus = read_corpus(small_text)
    state = train(new_state(corpus, TrainConfig(hidden=8, max_updates=30)), corpus)
    state.params["V"] *= 5000.0                  # the loss runs away from here
    state.config.max_updates = 2000
    # the stop request arrives while that block runs: noticed after it, with the divergence
    state = train(state, corpus, callbacks=StopAfter(stop_on_call=2))
    assert state.interrupted
    assert all(np.isfinite(v).all() for v in state.params.values())


# ---------------------------------------------------- the library's train() and save() guard
@pytest.fixture
def api_text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(builtin_text()[:4000], encoding="utf-8")
    return read_corpus(str(path))


@pytest.mark.parametrize("cfg", [TrainConfig(hidden=8, max_updates=5, sample_every=0),
                                 TrainConfig(cell="lstm", batch=2, hidden=8, max_updates=5,
                                             sample_every=0)], ids=["course", "lstm"])
def test_a_validation_text_of_another_vocabulary_is_refused(api_text, cfg):
    # its ids would index the parameters' rows out of bounds (the LSTM kernels corrupted the
    # heap) or against the wrong characters
    other = read_corpus(None)
    with pytest.raises(FastrnnError, match=r"^train: the validation text's vocabulary \(\d+ "
                                           r"characters\) differs from the run's"):
        train(new_state(api_text, cfg), api_text, val=other)


def test_an_edited_config_is_refused_before_training_or_saving(api_text, tmp_path):
    from dataclasses import replace

    from fastrnn.checkpoint import save

    state = train(new_state(api_text, TrainConfig(hidden=8, max_updates=5, sample_every=0)),
                  api_text)
    path = tmp_path / "ck.h5"
    save(state, str(path))
    before = path.read_bytes()
    for edit in (dict(dtype="float32"), dict(hidden=9), dict(optimizer="adam"),
                 dict(cell="gru"), dict(seq_length=10)):
        state.config = replace(load_state(str(path)).config, **edit)
        name = next(iter(edit))
        for action in (lambda: train(state, api_text), lambda: save(state, str(path))):
            with pytest.raises(FastrnnError, match=rf"state\.config\.{name} is .*, but the run "
                                                   "was made with"):
                action()
    assert path.read_bytes() == before
    state = load_state(str(path))
    state.config.eta = "0.1"                   # assigned past the constructor's checks
    with pytest.raises(FastrnnError, match=r"^--eta must be a number, got '0\.1'$"):
        train(state, api_text)
    state.config.eta, state.config.max_updates = 0.05, 8      # what --resume may change
    save(train(state, api_text), str(path))
    assert load_state(str(path)).update == 8
    with pytest.raises(FastrnnError, match=r"callbacks must be an instance \(e\.g\. "
                                           r"Callbacks\(\)\), not the class"):
        train(state, api_text, callbacks=Callbacks)


def test_library_calls_with_wrong_arguments_are_one_line_errors(api_text, tmp_path):
    """What a notebook user passes by mistake: a FastrnnError naming it, not a TypeError or
    MemoryError from deep inside."""
    import pathlib

    from fastrnn import load
    from fastrnn.checkpoint import save
    from fastrnn.data import split_validation

    text = tmp_path / "p.txt"
    text.write_text(builtin_text()[:3000], encoding="utf-8")
    assert read_corpus(pathlib.Path(text)).n_chars == 3000          # a Path is a file name
    assert TrainConfig(hidden=np.int64(20), eta=np.float32(0.5)).hidden == 20   # numpy scalars
    state = train(new_state(api_text, TrainConfig(hidden=8, max_updates=3, sample_every=0)),
                  api_text)
    save(state, str(tmp_path / "m.h5"))
    model = load(str(tmp_path / "m.h5"))
    cases = [
        (lambda: new_state(api_text, TrainConfig(hidden=10**7)), r"^--hidden 10,000,000 needs"),
        (lambda: new_state("text", TrainConfig()), r"^new_state: expected a Corpus"),
        (lambda: read_corpus(5), r"^read_corpus: expected a file name, got int"),
        (lambda: split_validation(api_text, "0.1"), r"^val_frac must be a number in \[0, 1\)"),
        (lambda: split_validation(api_text, -0.1), r"^val_frac must be a number in \[0, 1\)"),
        (lambda: train(state, "text"), r"^train: corpus must be a Corpus"),
        (lambda: model.sample(5, seed=-1), r"^--seed must be >= 0, got -1$"),
        (lambda: model.sample("5"), r"^-n must be an integer, got '5'$"),
        (lambda: model.sample(5, temperature="1"), r"^--temperature must be a number"),
        (lambda: model.sample(5, prime=5), r"^prime must be a string, got int$"),
        (lambda: model.evaluate(b"hi"), r"^evaluate: expected a string or a list of strings"),
    ]
    for call, message in cases:
        with pytest.raises(FastrnnError, match=message):
            call()


def test_a_model_with_a_huge_loss_is_described_not_a_traceback(tmp_path):
    """--sig 100 trains (finite losses of ~1,500 nats/char); eval, info and report of it
    raised OverflowError computing exp(nats) as the perplexity."""
    import json

    from .clitools import run

    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    out = tmp_path / "d.h5"
    run("train", text, "-m", 32, "--max-updates", 5, "--sig", 100, "--val-frac", 0.1,
        "--eval-every", 1, "-q", "-o", out)
    assert "perplexity  inf" in run("eval", out, text).output
    assert json.loads(run("eval", out, text, "--json").output)["perplexity"] is None
    assert "perplexity inf" in run("info", out).output
    run("report", out, "-o", tmp_path / "r")
    assert "inf" in (tmp_path / "r" / "report.md").read_text()
    huge = tmp_path / "h.h5"                 # losses of ~1e302: 300 digits in fixed point
    run("train", text, "-m", 8, "--max-updates", 5, "--sig", 1e300, "--sample-every", 2, "-q",
        "-o", huge)
    for args in (("eval", huge, text), ("info", huge), ("evolution", huge)):
        assert "0" * 30 not in run(*args).output and "e+30" in run(*args).output
    run("report", huge, "-o", tmp_path / "r2", "-n", 10)
    assert "0" * 30 not in (tmp_path / "r2" / "report.md").read_text()


def test_the_end_of_record_symbol_in_a_plain_text_is_just_a_character(tmp_path):
    """A plain text holding ␞ is not a per-record model: info described it as one and
    `sample --records` sampled from it."""
    from .clitools import one_line_error, run

    text = tmp_path / "t.txt"
    text.write_text("a plain text with a \u241e symbol in it, over and over. " * 40)
    out = tmp_path / "p.h5"
    run("train", text, "-m", 8, "--max-updates", 10, "-q", "-o", out)
    assert "end-of-record" not in run("info", out).output
    assert "--reset-per-record" in one_line_error(run("sample", out, "--records", 2, ok=False))


def test_a_plan_too_long_to_record_is_one_line(tmp_path):
    """The loss history is allocated for the whole plan: --epochs 1e23 raised numpy's
    "Maximum allowed dimension exceeded" (and 200,000 epochs a 25 GiB MemoryError)."""
    from .clitools import one_line_error, run

    for cell in ("rnn", "lstm"):
        msg = one_line_error(run("train", "builtin:python-docs", "-m", 8, "--cell", cell,
                                 "--epochs", 10**23, "-q", "-o", tmp_path / "x.h5",
                                 ok=False))
        assert "loss history" in msg and "--max-updates" in msg
    assert not (tmp_path / "x.h5").exists()


def test_a_lock_that_cannot_be_written_is_one_line_and_removed(tmp_path, monkeypatch):
    """On a full disk, writing the PID into the run's lock file said only "No space left on
    device" and left the .lock behind."""
    import os

    from fastrnn import runlock
    from fastrnn.errors import FastrnnError

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runlock.os, "pwrite", full)
    lock = runlock.RunLock(str(tmp_path / "a.h5"))
    with pytest.raises(FastrnnError, match="cannot write .*a.h5: No space left on device"):
        lock.acquire()
    assert os.listdir(tmp_path) == []
