"""fastrnn sweep: the grid, one-line errors, and real dask.distributed clusters.

The cluster tests run `python -m fastrnn sweep` as a child process (as a user would): a
LocalCluster of 2 worker processes with a trial that diverges, a re-run that skips what is
done, Ctrl-C to the whole process group followed by a resumed sweep, and a scheduler and
workers started as separate `dask scheduler` / `dask worker` processes reached through
--scheduler, one of whose workers is killed mid-trial; and, in process, a trial whose task the
cluster loses (an exception at the client, not a failed row) being submitted again. Trials are
tiny (m <= 24, a few thousand updates) and each finished trial is compared bit for bit with a
plain training run.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from fastrnn.checkpoint import load_state
from fastrnn.config import TrainConfig
from fastrnn.data import builtin_text, read_corpus, split_validation
from fastrnn.errors import FastrnnError
from fastrnn.sweep import (MANIFEST, RESULTS, Range, StopFlag, best_command, make_trials,
                           parse_grid, read_results, trial_name, write_results)
from fastrnn.train import new_state, train

from .clitools import one_line_error, run
from .statecmp import assert_same_state

TIMEOUT = 240          # seconds for a whole child sweep: generous on a busy 2-core machine
DASK = shutil.which("dask") or os.path.join(os.path.dirname(sys.executable), "dask")


# ----------------------------------------------------------------------------- the grid
def test_grid_keys_types_and_order():
    grid = parse_grid(["eta=0.05,0.1", "seq-length=10,20", "dtype=float32"])
    assert grid == {"eta": [0.05, 0.1], "seq_length": [10, 20], "dtype": ["float32"]}
    trials = make_trials(grid, TrainConfig(max_updates=7), seeds=[0, 1])
    assert len(trials) == 8
    assert trials[0].name == "eta=0.05,seq_length=10,dtype=float32,seed=0"
    assert trials[1].config.seed == 1 and trials[0].config.max_updates == 7
    assert isinstance(trials[0].config.seq_length, int)
    # deterministic: the same command maps to the same files
    assert [t.name for t in trials] == [t.name for t in make_trials(grid, TrainConfig(),
                                                                     seeds=[0, 1])]


def test_grid_works_for_any_trainconfig_field():
    # fields that others add to TrainConfig become grid keys with their own type
    grid = parse_grid(["clip=1,2.5", "sample_every=0,1e3"])
    assert grid == {"clip": [1.0, 2.5], "sample_every": [0, 1000]}
    assert trial_name({"clip": 1.0, "dtype": "a/b c"}) == "clip=1.0,dtype=a_b_c"


@pytest.mark.parametrize("spec, words", [
    ("eta", "expected KEY=V1,V2"), ("=1,2", "expected KEY=V1,V2"), ("eta=", "expected"),
    ("bogus=1", "valid keys: hidden, seq_length, eta"), ("hidden=1.5", "not a valid int"),
    ("eta=0.1,,0.2", "empty value"), ("eta=0.1,0.1", "repeated"),
    ("record-separator=a,b", "once per sweep"), ("keep-newlines=true,false", "once per sweep"),
    ("unescape_html=true", "once per sweep"), ("dtype=1:2", "numeric"),
    ("eta=0:1:log", "LO > 0"), ("eta=1:0.5", "smaller"), ("eta=1:2:cube", "LO:HI:log"),
])
def test_grid_errors_are_one_line(spec, words):
    with pytest.raises(FastrnnError) as err:
        parse_grid([spec])
    assert words in str(err.value) and "\n" not in str(err.value)
    if "valid keys" in words:          # only keys it takes: not the text-reading ones
        assert "record_separator" not in str(err.value)


def test_random_trials_are_seeded_and_in_range():
    grid = parse_grid(["eta=0.001:1", "hidden=10:20", "seq_length=5,9"])
    assert grid["eta"] == Range(0.001, 1.0, "log") and grid["hidden"].scale == "lin"
    a = make_trials(grid, TrainConfig(), random_n=200, random_seed=3)
    b = make_trials(grid, TrainConfig(), random_n=200, random_seed=3)
    assert [t.name for t in a] == [t.name for t in b] and len(a) == 200
    assert a != make_trials(grid, TrainConfig(), random_n=200, random_seed=4)
    etas = [t.config.eta for t in a]
    assert all(0.001 <= e <= 1 for e in etas)
    # log-uniform: about a third of the draws in each decade
    assert 40 < sum(e < 0.01 for e in etas) < 95
    assert {t.config.hidden for t in a} == set(range(10, 21))
    assert {t.config.seq_length for t in a} == {5, 9}
    with pytest.raises(FastrnnError, match="ranges need --random"):
        make_trials(grid, TrainConfig())


def test_best_command_leaves_out_what_the_best_trial_never_reads(small_text, tmp_path):
    """A sweep over optimizers with --beta1 fixed for its Adam trials: the best trial's
    command names --beta1 only when that trial is an Adam one, and `train` accepts it."""
    manifest = {"text": small_text, "train_args": ["--hidden", "4", "--beta1", "0.8",
                                                   "--max-updates", "3", "-q"]}
    keys = ["optimizer", "alpha", "seed"]
    rms = best_command({"optimizer": "rmsprop", "alpha": "0.9", "seed": "0"}, keys, manifest)
    assert rms == ["fastrnn", "train", small_text, "--hidden", "4", "--max-updates", "3", "-q",
                   "--optimizer", "rmsprop", "--alpha", "0.9", "--seed", "0", "-o", "best.h5"]
    adam = best_command({"optimizer": "adam", "alpha": "0.9", "seed": "0"}, keys, manifest)
    assert adam[3:5] == ["--hidden", "4"] and adam[5:7] == ["--beta1", "0.8"]
    assert "--alpha" not in adam
    # options another option makes read: --eval-every only where the trial holds text out
    held = {"text": small_text, "train_args": ["--hidden", "4", "--eval-every", "2",
                                               "--max-updates", "3", "-q"]}
    none = best_command({"val_frac": "0.0", "seed": "0"}, ["val_frac", "seed"], held)
    some = best_command({"val_frac": "0.2", "seed": "0"}, ["val_frac", "seed"], held)
    assert "--eval-every" not in none and some[5:7] == ["--eval-every", "2"]
    for cmd in (rms, adam, none, some):
        run(*cmd[1:-1], str(tmp_path / "best.h5"), "--overwrite")


# ----------------------------------------------------------------------- one-line errors
@pytest.mark.parametrize("args, words", [
    (["--grid", "eta"], "expected KEY=V1,V2"),
    (["--grid", "nope=1"], "unknown hyper-parameter 'nope'; valid keys: hidden"),
    (["--grid", "chars_per_update=1,7"], "unknown hyper-parameter 'chars_per_update'"),
    (["--grid", "eps=1e-6,1e-2"], "unknown hyper-parameter 'eps'"),
    (["--grid", "hidden=0,5"], "--grid hidden=0"),
    (["--grid", "dtype=float16"], "float16"),
    (["--grid", "eta=0.1", "--eta", "0.2"], "both as an option and in --grid"),
    ([], "at least one --grid"),
    (["--grid", "beta1=0.8,0.9"], "--beta1 is Adam's first-moment decay and does nothing "
                                  "here: every trial's optimizer is adagrad"),
    (["--grid", "optimizer=adagrad,rmsprop", "--beta2", "0.99"], "--beta2 is Adam's"),
    (["--grid", "hidden=4,8", "--cell", "gru", "--sig", "0.1"], "--sig is the vanilla RNN's"),
])
def test_cli_errors(small_text, tmp_path, args, words):
    line = one_line_error(run("sweep", small_text, *args, "-o", tmp_path / "s", ok=False))
    assert words in line


def test_grid_keys_are_exactly_the_train_options_that_are_config_fields():
    """A trial's command (sweep-report's best trial) must be one `fastrnn train` accepts."""
    from fastrnn.cli import cli
    from fastrnn.sweep import NOT_GRID_FIELDS, field_types

    options = {p.name for p in cli.commands["train"].params}
    assert set(NOT_GRID_FIELDS) == set(field_types()) - options


def test_unreachable_scheduler_is_one_line(small_text, tmp_path):
    with socket.socket() as s:              # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    result = run("sweep", small_text, "--grid", "hidden=4", "--scheduler",
                 f"tcp://127.0.0.1:{port}", "--connect-timeout", "1", "-o", tmp_path / "s",
                 "-q", ok=False)
    assert "cannot reach the Dask scheduler" in one_line_error(result)
    assert time.monotonic() - t0 < 30


# ------------------------------------------------------------------------ real clusters
@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text(builtin_text()[:60_000], encoding="utf-8")
    return str(path)


def env():
    """The child's environment: this checkout first, and Numba's on-disk cache shared."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([here, e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e.setdefault("NUMBA_CACHE_DIR", os.path.join(here, ".numba-cache"))
    return e


def sweep(*args, cwd, **kw):
    """Start `python -m fastrnn sweep ...` as a child in its own process group."""
    log = open(os.path.join(cwd, "sweep.log"), "a")
    return subprocess.Popen([sys.executable, "-m", "fastrnn", "sweep", *map(str, args)],
                            cwd=cwd, env=env(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, **kw)


def finish(proc, cwd, rc=0) -> str:
    try:
        proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    with open(os.path.join(cwd, "sweep.log")) as fh:
        log = fh.read()
    assert proc.returncode == rc, log
    assert "Traceback" not in log, log
    return log


def results(out) -> dict:
    with open(os.path.join(out, "results.csv"), newline="") as fh:
        return {row["name"]: row for row in csv.DictReader(fh)}


def assert_exact(text_path, ckpt, **opts):
    """The trial's checkpoint equals an uninterrupted `train` run with the same options."""
    cfg = TrainConfig(**opts)
    corpus, val = split_validation(read_corpus(text_path), cfg.val_frac)
    want = train(new_state(corpus, cfg), corpus, val=val)
    assert_same_state(load_state(ckpt), want)


COMMON = ["--max-updates", 600, "--checkpoint-every", 200, "--sample-every", 300,
          "--sample-length", 20, "--dashboard-address", ":0", "--workers", 2]


def test_local_cluster_failing_trial_rerun_and_report(text, tmp_path):
    args = [text, "--grid", "eta=0.1,1e4", "--grid", "hidden=8,12", "--val-frac", 0.1,
            "--eval-every", 200, *COMMON, "-o", "sw"]
    log = finish(sweep(*args, cwd=tmp_path), tmp_path)
    assert "started a local Dask cluster: 2" in log and "dashboard: http" in log
    out = tmp_path / "sw"
    rows = results(out)
    assert len(rows) == 4
    for name, row in rows.items():
        if name.startswith("eta=10000.0"):       # diverges: recorded, the others went on
            assert row["status"] == "failed", row
            assert row["error"].startswith("training diverged at update")
            assert (out / (name + ".h5.failed")).exists()
        else:
            assert row["status"] == "done", row
            assert int(row["updates"]) == 600 and row["best_val_loss"] and row["chars_per_sec"]
            assert (out / (name + ".h5")).exists()
    assert_exact(text, out / "eta=0.1,hidden=12,seed=0.h5", eta=0.1, hidden=12,
                 max_updates=600, checkpoint_every=200, sample_every=300, sample_length=20,
                 val_frac=0.1, eval_every=200)
    # per trial, the scheduling beyond the trial's own run time is well under a second
    overhead = float(log.split("scheduling overhead ")[1].split(" s/trial")[0])
    assert overhead < 1.0, log

    # the same command again: finished trials are skipped, failed ones are not re-run
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.h5")}
    log = finish(sweep(*args, cwd=tmp_path), tmp_path)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.h5")} == mtimes
    assert log.count("failed before") == 2
    assert [r["status"] for r in results(out).values()].count("done") == 2

    report = run("sweep-report", out).output
    lines = report.splitlines()
    assert "by best validation loss" in lines[0]
    ranked = [line.split() for line in lines[2:6]]
    assert [r[4] for r in ranked] == ["done", "done", "failed", "failed"]
    assert float(ranked[0][8]) <= float(ranked[1][8])           # best val, ascending
    assert (out / "loss_curves.png").stat().st_size > 1000
    best = [line for line in lines if line.startswith("best trial: ")][0]
    assert f"fastrnn train {text} --max-updates 600" in best and "--val-frac 0.1" in best
    assert f"--hidden {ranked[0][2]} --seed 0 -o best.h5" in best

    # a sweep whose every trial failed: the table is the report (exit 0), without a figure
    failed = tmp_path / "failed"
    failed.mkdir()
    rows, keys = read_results(str(out / RESULTS))
    write_results(str(failed / RESULTS), [r for r in rows if r["status"] == "failed"], keys)
    shutil.copy(out / MANIFEST, failed / MANIFEST)
    report = run("sweep-report", failed).output
    assert [line.split()[4] for line in report.splitlines()[2:4]] == ["failed", "failed"]
    assert "best trial" not in report
    assert "no loss-curve figure: no trial has a checkpoint with training history" in report
    assert not (failed / "loss_curves.png").exists()


def test_a_trial_lost_to_the_cluster_is_submitted_again(text, tmp_path, monkeypatch):
    """An exception from a trial's future ('cancelled: already forgotten' or 'lost
    dependencies' when a worker dies at the wrong moment) is the cluster losing the task, not
    the trial failing: run_sweep submits it again (it resumes from its checkpoint) and the
    trial ends done and exact. Here the task raises on its first 3 attempts: Dask's own 2
    retries, then the exception reaches the client once."""
    messages, result, attempts = _sweep_with_failing_task(
        text, tmp_path, monkeypatch, ConnectionError("worker lost"), fail_times=3)
    assert [r["status"] for r in result.rows] == ["done"], (result.rows, messages)
    assert attempts() == 4
    assert any("ConnectionError: worker lost; submitting it again" in m for m in messages)
    assert_exact(text, tmp_path / "sw" / "seed=0.h5", max_updates=300, checkpoint_every=100,
                 sample_every=0, hidden=8)


def test_killed_worker_is_not_submitted_again(text, tmp_path, monkeypatch):
    """KilledWorker means Dask already ran the task on several workers and each died (a trial
    that kills its process): the trial is recorded as failed, not run yet again."""
    from types import SimpleNamespace

    from distributed.scheduler import KilledWorker

    dead = SimpleNamespace(address="tcp://127.0.0.1:1")     # as the scheduler's WorkerState
    messages, result, attempts = _sweep_with_failing_task(
        text, tmp_path, monkeypatch, KilledWorker("trial-seed=0", dead, 3),
        fail_times=100)
    [row] = result.rows
    assert row["status"] == "failed" and row["error"].startswith("KilledWorker"), row
    assert attempts() == 3                      # Dask's own 2 retries, no resubmission
    assert not any("submitting it again" in m for m in messages)


def _sweep_with_failing_task(text, tmp_path, monkeypatch, exc, fail_times):
    """run_sweep of one tiny trial on an in-process cluster whose task raises exc on its first
    fail_times attempts -> (log messages, SweepResult, a function giving the attempts)."""
    from distributed import Client

    from fastrnn import sweep as sweep_mod

    real, counter = sweep_mod.run_trial, tmp_path / "attempts"

    def flaky_run_trial(*args, **kw):
        # the task is pickled for the worker, so the count lives in a file, not in a list
        n = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(n))
        if n <= fail_times:
            raise exc
        return real(*args, **kw)

    monkeypatch.setattr(sweep_mod, "run_trial", flaky_run_trial)
    fixed = TrainConfig(max_updates=300, checkpoint_every=100, sample_every=0, hidden=8)
    trials = make_trials(parse_grid(["seed=0"]), fixed)
    messages = []
    (tmp_path / "sw").mkdir()
    with Client(processes=False, n_workers=1, threads_per_worker=1,
                dashboard_address=":0") as client:
        result = sweep_mod.run_sweep(client, read_corpus(text), trials, str(tmp_path / "sw"),
                                     ["seed"], log=messages.append)
    return messages, result, lambda: int(counter.read_text())


def test_ctrl_c_stops_cleanly_and_rerun_resumes_exactly(text, tmp_path):
    args = [text, "--grid", "hidden=16,24", "--grid", "seq_length=10", "--max-updates",
            40_000, "--checkpoint-every", 1000, "--sample-every", 0, "--dashboard-address",
            ":0", "--workers", 2, "-o", "sw"]
    proc = sweep(*args, cwd=tmp_path)
    out = tmp_path / "sw"
    deadline = time.monotonic() + TIMEOUT
    while len(list(out.glob("*.h5"))) < 2:            # both trials are training
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    # as `timeout -s INT` stops a command: the signal to it, then to its process group (so
    # the client gets it twice at once), which reaches the workers too, as Ctrl-C does
    os.kill(proc.pid, signal.SIGINT)
    os.killpg(proc.pid, signal.SIGINT)
    log = finish(proc, tmp_path, rc=128 + signal.SIGINT)
    assert "SIGINT: sweep stopped" in log and "re-run the same command" in log
    rows = results(out)
    assert {r["status"] for r in rows.values()} == {"interrupted"}, rows
    for name, row in rows.items():        # each wrote its checkpoint where it stopped
        assert 0 < load_state(out / (name + ".h5")).update == int(row["updates"]) < 40_000

    log = finish(sweep(*args, cwd=tmp_path), tmp_path)
    rows = results(out)
    assert {r["status"] for r in rows.values()} == {"done"}
    assert_exact(text, out / "hidden=16,seq_length=10,seed=0.h5", hidden=16, seq_length=10,
                 max_updates=40_000, checkpoint_every=1000, sample_every=0)


def test_a_repeated_signal_aborts_only_when_it_comes_later():
    now = [100.0]
    stop = StopFlag(clock=lambda: now[0])
    stop(signal.SIGINT)
    now[0] += 0.01
    stop(signal.SIGINT)                   # timeout(1)'s second delivery: the same request
    assert (stop.signum, stop.count) == (signal.SIGINT, 1)
    now[0] += 2.0
    stop(signal.SIGINT)                   # a second Ctrl-C: abort
    assert stop.count == 2
    other = StopFlag(clock=lambda: now[0])
    other(signal.SIGTERM)
    other(signal.SIGINT)                  # another signal at once is a second request
    assert (other.signum, other.count) == (signal.SIGTERM, 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remote_scheduler_and_a_lost_worker(text, tmp_path):
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = []
    logs = open(tmp_path / "dask.log", "w")
    try:
        procs.append(subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env(), stdout=logs, stderr=subprocess.STDOUT, start_new_session=True))
        for _ in range(2):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--nworkers", "1", "--nthreads", "1",
                 "--no-dashboard"],
                env=env(), stdout=logs, stderr=subprocess.STDOUT, start_new_session=True))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            pids = list(client.run(os.getpid).values())
            args = [text, "--grid", "hidden=16,20", "--max-updates", 30_000,
                    "--seq-length", 10, "--checkpoint-every", 2000, "--sample-every", 0,
                    "--scheduler", address, "-o", tmp_path / "sw"]
            proc = sweep(*args, cwd=tmp_path)
            out = tmp_path / "sw"
            deadline = time.monotonic() + TIMEOUT
            while len(list(out.glob("*.h5"))) < 2:     # both trials wrote a checkpoint
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            os.kill(pids[0], signal.SIGKILL)           # a worker is lost mid-trial
            log = finish(proc, tmp_path)
        assert f"using the Dask cluster at {address}: 2 worker(s)" in log
        rows = results(out)
        assert {r["status"] for r in rows.values()} == {"done"}, rows
        # the lost trial was re-run by Dask, resumed from its checkpoint, and is exact
        for hidden in (16, 20):
            assert_exact(text, out / f"hidden={hidden},seed=0.h5", hidden=hidden,
                         seq_length=10, max_updates=30_000, checkpoint_every=2000,
                         sample_every=0)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        logs.close()


def test_a_trial_reports_what_train_reports_for_streams_and_records(tmp_path):
    """A trial's chars/s counts every stream (info's figure for its checkpoint), and a
    per-record trial stores the characters its updates predict (train's chars_per_update), so
    its per-character losses and rank are train's; both were seq_length-based."""
    from fastrnn.data import read_input
    from fastrnn.runinfo import summary
    from fastrnn.sweep import run_trial

    records = os.path.join(os.path.dirname(__file__), "..", "data", "records-sample.json")
    base = dict(hidden=8, max_updates=40, sample_every=0, checkpoint_every=0)
    lstm = TrainConfig(cell="lstm", batch=4, optimizer="adam", eta=2e-3, **base)
    row = run_trial(read_corpus(None), lstm.as_dict(), str(tmp_path / "lstm.h5"))
    assert row["status"] == "done", row
    assert row["chars_per_sec"] == pytest.approx(
        summary(load_state(str(tmp_path / "lstm.h5")), str(tmp_path / "lstm.h5"))["chars_per_s"],
        rel=1e-9)

    per_record = TrainConfig(reset_per_record=True, **base)
    corpus = read_input(records, encoding="utf-8", json_field="text", config=per_record)
    row = run_trial(corpus, per_record.as_dict(), str(tmp_path / "rec.h5"))
    assert row["status"] == "done", row
    run("train", records, "--reset-per-record", "--hidden", "8", "--max-updates", "40",
        "--sample-every", "0", "--checkpoint-every", "0", "-q", "-o", tmp_path / "train.h5")
    trained = load_state(str(tmp_path / "train.h5")).config.chars_per_update
    assert 0 < trained < 25
    assert load_state(str(tmp_path / "rec.h5")).config.chars_per_update == trained
    assert row["chars_per_update"] == trained


def test_a_trial_loads_its_own_cells_kernels_before_its_timing(tmp_path, monkeypatch):
    """A worker warms up the kernels of the trial's engine (it warmed up the course's for an
    LSTM trial, whose first timed block then included loading its own), once per engine."""
    import importlib

    from fastrnn import sweep as sweep_mod

    train_mod = importlib.import_module("fastrnn.train")     # fastrnn.train is also a function

    calls = []
    real = train_mod.warmup
    monkeypatch.setattr(train_mod, "warmup",
                        lambda *a, **kw: calls.append(kw["config"].cell) or real(*a, **kw))
    monkeypatch.setattr(sweep_mod, "_WARM", set())
    corpus = read_corpus(None)
    base = dict(hidden=8, max_updates=5, sample_every=0, checkpoint_every=0)
    for name, cfg in [("a", TrainConfig(cell="lstm", optimizer="adam", eta=2e-3, **base)),
                      ("b", TrainConfig(cell="lstm", optimizer="adam", eta=1e-3, **base)),
                      ("c", TrainConfig(**base))]:
        assert sweep_mod.run_trial(corpus, cfg.as_dict(), str(tmp_path / f"{name}.h5"))[
            "status"] == "done"
    assert calls == ["lstm", "rnn"]


def test_a_rerun_with_another_option_is_refused_before_it_touches_the_sweep(small_text,
                                                                              tmp_path):
    """Re-running a sweep with a changed option (-m 16 for -m 8) failed every finished
    trial, wiped its numbers from results.csv and left .failed markers that the right command
    then skipped; it is refused before the cluster starts, and nothing in -o changes."""
    out = tmp_path / "s"
    out.mkdir()
    run("train", small_text, "--hidden", 8, "--max-updates", 20, "--eta", 0.05, "-q",
        "--sample-every", 0, "-o", out / "eta=0.05,seed=0.h5")
    before = sorted(os.listdir(out))
    line = one_line_error(run("sweep", small_text, "--grid", "eta=0.05,0.1", "--hidden", 16,
                              "--max-updates", 20, "-o", out, "-q", ok=False))
    assert "hidden=8" in line and "16" in line
    assert sorted(os.listdir(out)) == before


def test_a_finished_trial_drops_its_stale_failed_marker(tmp_path):
    """--retry-failed on a trial that is in fact finished reports it done; its .failed
    marker (from a mistaken run) stayed, and the next plain re-run skipped it as failed."""
    from fastrnn.sweep import FAILED_SUFFIX, run_trial

    cfg = TrainConfig(hidden=8, max_updates=10, sample_every=0, checkpoint_every=0)
    path = str(tmp_path / "t.h5")
    assert run_trial(read_corpus(None), cfg.as_dict(), path)["status"] == "done"
    with open(path + FAILED_SUFFIX, "w") as fh:
        fh.write("this sweep asks 16")
    again = run_trial(read_corpus(None), cfg.as_dict(), path)
    assert again["status"] == "done" and not os.path.exists(path + FAILED_SUFFIX)
    assert again["chars_per_sec"] > 0      # a re-run that finds it done left the cell empty


def test_sweep_report_of_edited_files_is_one_line(small_text, tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    rows = [{"name": "eta=0.1,seed=0", "eta": 0.1, "seed": 0, "status": "done",
             "updates": 20, "best_smooth": 50.0}]
    write_results(str(out / RESULTS), rows, ["eta", "seed"])
    (out / MANIFEST).write_text("[1, 2]")                 # not what a sweep writes: ignored
    assert "best trial: fastrnn train TEXT" in run("sweep-report", out).output
    (out / MANIFEST).write_text(json.dumps({"text": 5}))
    assert "best trial: fastrnn train TEXT" in run("sweep-report", out).output
    table = (out / RESULTS).read_text().replace(",20,", ",abc,")
    (out / RESULTS).write_text(table)
    assert "updates is 'abc', not a number" in one_line_error(run("sweep-report", out,
                                                                  ok=False))
    (out / RESULTS).write_bytes(b"\xff\xfe" + table.encode("utf-16-le"))
    assert "not a fastrnn sweep table" in one_line_error(run("sweep-report", out, ok=False))


def test_a_typed_seed_is_not_repeated_in_the_best_command():
    manifest = {"text": "t.txt", "train_args": ["--seed", "0", "--hidden", "8"]}
    cmd = best_command({"name": "eta=0.1,seed=0", "eta": 0.1, "seed": 0}, ["eta", "seed"],
                       manifest)
    assert cmd.count("--seed") == 1 and cmd.count("--hidden") == 1


def test_sweep_report_names_a_trained_trial_whose_checkpoint_is_gone(small_text, tmp_path):
    """It drew the other curves and said nothing of the missing one ("1 loss curves")."""
    out = tmp_path / "s"
    out.mkdir()
    run("train", small_text, "--hidden", 4, "--max-updates", 20, "-q", "--sample-every", 0,
        "-o", out / "eta=0.1,seed=0.h5")
    rows = [{"name": "eta=0.1,seed=0", "eta": 0.1, "seed": 0, "status": "done", "updates": 20,
             "best_smooth": 50.0, "checkpoint": "eta=0.1,seed=0.h5"},
            {"name": "eta=0.2,seed=0", "eta": 0.2, "seed": 0, "status": "done", "updates": 20,
             "best_smooth": 60.0, "checkpoint": "eta=0.2,seed=0.h5"}]
    write_results(str(out / RESULTS), rows, ["eta", "seed"])
    report = run("sweep-report", out).output
    assert "note: no loss curve for eta=0.2,seed=0: its checkpoint is gone" in report
    assert "(1 loss curves" in report and "None" not in report


def test_random_says_when_the_grid_holds_fewer_trials(small_text, tmp_path):
    """--random 5 over two values ran two trials without a word."""
    with socket.socket() as s:              # a port nobody listens on: stop after the plan
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("sweep", small_text, "--grid", "eta=0.05,0.1", "--random", 5, "--scheduler",
                 f"tcp://127.0.0.1:{port}", "--connect-timeout", "1", "-o", tmp_path / "s",
                 ok=False)
    assert "--random 5: the grid holds only 2 different trials; running them" in result.output


def test_a_table_mixing_older_rows_ranks_them_alike():
    """Rows of an older version have no chars_per_update: dividing only the new rows by it
    ranked a worse new trial above a better old one."""
    from fastrnn.sweep import ranked

    rows = [{"name": "new", "status": "done", "best_smooth": 76.5, "chars_per_update": 25.0},
            {"name": "old", "status": "done", "best_smooth": 68.0}]
    assert [r["name"] for r in ranked(rows)[0]] == ["old", "new"]
    rows[1]["chars_per_update"] = 20.0      # per-record trials: per character now
    assert [r["name"] for r in ranked(rows)[0]] == ["new", "old"]


def test_a_trial_keeps_the_records_field_like_train(tmp_path):
    """A sweep over `--json-field body` wrote checkpoints without it: eval then scored
    another field of the records, and --resume refused the text."""
    import json

    from fastrnn.data import read_input
    from fastrnn.sweep import run_trial

    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"body": f"post {i} says hello to everyone", "text": "zz"}
                                for i in range(50)]))
    cfg = TrainConfig(hidden=4, max_updates=5, sample_every=0, checkpoint_every=0)
    corpus = read_input(str(path), json_field="body", config=cfg)
    out = tmp_path / "trial.h5"
    assert run_trial(corpus, cfg.as_dict(), str(out))["status"] == "done"
    assert load_state(str(out)).json_field == "body"
    scored = json.loads(run("eval", out, path, "--json").output)
    assert scored["chars"] > 1000                    # the posts, not 50 x "zz"
