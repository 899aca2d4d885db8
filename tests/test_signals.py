"""Real processes: SIGINT/SIGTERM stop cleanly, kill -9 never corrupts the checkpoint, and a
failed write (file too large, disk full, no permission) keeps the previous checkpoint.

Every child is `python -m fastrnn train ...` on a generated text; its stderr goes to a file
that the test polls for "training on" (printed once the kernels are loaded), so the random
moments of the signals fall in training, not in Numba's first compilation.
"""
from __future__ import annotations

import errno
import os
import random
import resource
import shlex
import signal
import subprocess
import sys
import time

import pytest

import fastrnn.checkpoint as ckpt
from fastrnn.checkpoint import load_state, save
from fastrnn.config import TrainConfig
from fastrnn.data import builtin_text, read_corpus, split_validation
from fastrnn.train import new_state, train, warmup

from .clitools import invoke, run
from .statecmp import assert_same_net_state, assert_same_state

STARTED = "training on "
TIMEOUT = 300           # seconds: generous, a first Numba compilation can take a minute


@pytest.fixture(scope="module")
def long_text(tmp_path_factory):
    """150k characters of English: 5999 updates per epoch at seq-length 25."""
    path = tmp_path_factory.mktemp("corpus") / "long.txt"
    path.write_text(builtin_text()[:150_000], encoding="utf-8")
    warmup("float64")          # compile/cache the kernels here, not inside a timed child
    return str(path)


def spawn(args, cwd, log, **kw):
    with open(log, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "fastrnn", "train", *map(str, args)],
                                cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, **kw)


def read(path) -> str:
    with open(path) as fh:
        return fh.read()


def wait_for_training(proc, log):
    deadline = time.monotonic() + TIMEOUT
    while STARTED not in read(log):
        assert proc.poll() is None, f"child exited early ({proc.returncode}):\n{read(log)}"
        assert time.monotonic() < deadline, "child never started training"
        time.sleep(0.005)


def reference(text, cfg, upto):
    """The state of one uninterrupted in-process run after `upto` updates."""
    corpus = read_corpus(text)
    plan = TrainConfig(**{**cfg.as_dict(), "max_updates": upto})
    return train(new_state(corpus, plan), corpus)


OPTS = dict(hidden=24, sample_every=1000, sample_length=40, seed=3)


def cli_opts(**kw):
    return [a for k, v in {**OPTS, **kw}.items() for a in (f"--{k.replace('_', '-')}", v)]


# ----------------------------------------------------------------------------- SIGINT/TERM
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_finishes_the_update_writes_a_checkpoint_and_exits_128_plus_signum(
        long_text, tmp_path, signum, monkeypatch):
    rng = random.Random(int(signum))
    log = tmp_path / "stderr.txt"
    # a plan of 20 epochs (120k updates): far more than the moment we interrupt at
    proc = spawn([long_text, "-o", "ck.h5", *cli_opts(epochs=20, checkpoint_every=700)],
                 tmp_path, log)
    wait_for_training(proc, log)
    time.sleep(rng.uniform(0.05, 0.4))
    proc.send_signal(signum)
    assert proc.wait(TIMEOUT) == 128 + signum
    err = read(log)
    assert "Traceback" not in err
    state = load_state(str(tmp_path / "ck.h5"))
    assert 0 < state.update < 20 * 5999 and not state.interrupted
    name = signal.Signals(signum).name
    last = err.strip().splitlines()[-1]
    assert last == (f"{name}: stopped after update {state.update:,}; checkpoint written to "
                    f"ck.h5; continue with: fastrnn train {shlex.quote(long_text)} "
                    f"--resume ck.h5")
    # continue with the printed command (up to 500 more updates) and compare with one run
    more = state.update + 500
    monkeypatch.chdir(tmp_path)
    run(*shlex.split(last.split("continue with: ")[1])[1:], "--max-updates", more, "-q")
    got = load_state(str(tmp_path / "ck.h5"))
    assert got.update == more
    assert_same_state(got, reference(long_text, state.config, more))


def test_sigint_stops_an_lstm_run_on_two_threads_and_it_resumes_exactly(long_text, tmp_path,
                                                                         monkeypatch):
    """The general engine (2-layer LSTM, 4 streams on a thread pool, Adam, dropout,
    validation): SIGINT finishes the update, saves, exits 130; the printed command continues
    it bit-identically to one uninterrupted run (parameters, Adam moments, states, best)."""
    net = dict(cell="lstm", layers=2, batch=4, optimizer="adam", dropout=0.1, threads=2,
               val_frac=0.05, eval_every=300)
    proc = spawn([long_text, "-o", "ck.h5", *cli_opts(epochs=50, checkpoint_every=400, **net)],
                 tmp_path, tmp_path / "stderr.txt")
    wait_for_training(proc, tmp_path / "stderr.txt")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(TIMEOUT) == 130
    last = read(tmp_path / "stderr.txt").strip().splitlines()[-1]
    assert last.startswith("SIGINT: stopped after update ") and "Traceback" not in last
    state = load_state(str(tmp_path / "ck.h5"))
    assert 0 < state.update and state.config.cell == "lstm"
    more = state.update + 120
    monkeypatch.chdir(tmp_path)
    run(*shlex.split(last.split("continue with: ")[1])[1:], "--max-updates", more, "-q",
        "--threads", 1)                       # results do not depend on the thread count
    got = load_state(str(tmp_path / "ck.h5"))
    cfg = state.config.as_dict()
    cfg.pop("chars_per_update")
    corpus = read_corpus(long_text)
    train_part, _ = split_validation(corpus, cfg["val_frac"], cfg["seq_length"])
    plan = TrainConfig(**{**cfg, "max_updates": more})
    want = train(new_state(train_part, plan), train_part)
    assert_same_net_state(got, want, more)


# ----------------------------------------------------------------------------------- kill -9
def test_kill_9_at_random_moments_never_leaves_a_broken_checkpoint(long_text, tmp_path):
    """Five children are killed with SIGKILL at random (seeded) moments while they write a
    checkpoint every 7 updates, so that some kills land inside a save (the deterministic test
    below makes sure of those moments). After each
    kill the checkpoint is absent (killed before the first) or loads, and equals the state
    of an uninterrupted run at its update. The run then completes, bit-identical, and the
    temp files the killed children left are gone."""
    rng = random.Random(20240909)
    path = tmp_path / "ck.h5"
    cfg_args = cli_opts(epochs=3, checkpoint_every=7)
    corpus = read_corpus(long_text)
    ref = None
    last_update, stray = -1, set()
    for round_ in range(5):
        log = tmp_path / f"stderr{round_}.txt"
        resume = ["--resume", path] if path.exists() else []
        proc = spawn([long_text, "-o", path, *resume, *cfg_args], tmp_path, log)
        if round_ == 0:               # "any moment": maybe still starting up
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            wait_for_training(proc, log)
            time.sleep(rng.uniform(0.0, 0.3))
        proc.kill()
        assert proc.wait(TIMEOUT) == -signal.SIGKILL
        stray |= {p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")}
        if not path.exists():
            assert last_update == -1
            continue
        state = load_state(str(path))
        assert state.update % 7 == 0 and state.update >= last_update
        if ref is None:
            ref = new_state(corpus, TrainConfig(**state.config.as_dict()))
        ref.config.max_updates = state.update
        train(ref, corpus)
        assert_same_state(state, ref)
        last_update = state.update
    assert last_update > 0, "no child lived long enough to write a checkpoint"
    # finish the run (no periodic checkpoints: quick) and compare with one uninterrupted run
    run("train", long_text, "--resume", path, "--checkpoint-every", 0, "-q")
    final = load_state(str(path))
    per_epoch = (150_000 - 26) // 25 + 1
    assert final.update == 3 * per_epoch and final.epoch == 3
    ref.config.max_updates = 0
    assert_same_state(final, train(ref, corpus))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")], \
        f"stale temp files left behind (had {sorted(stray)})"


CHILD_SAVE = """
import os, sys, time
from fastrnn.checkpoint import load_state, save
state = load_state(sys.argv[1])
state.params["W"] += 1.0                       # a different checkpoint than the one on disk
real = getattr(os, sys.argv[2])
def hang(*args):
    if sys.argv[2] == "write":                 # half of the file, then stall
        fd, data = args
        real(fd, bytes(data[:len(data) // 2]))
    open(sys.argv[3], "w").close()             # tell the parent where we are
    time.sleep(600)
setattr(os, sys.argv[2], hang)
save(state, sys.argv[1])
"""


@pytest.mark.parametrize("moment", ["write", "fsync", "replace"])
def test_kill_9_inside_a_save_leaves_the_previous_checkpoint(small_text, tmp_path, moment):
    """Deterministic companion of the random kills: the child stops inside save() -- half
    the temp file written, before its fsync, or just before the rename -- and is killed."""
    corpus = read_corpus(small_text)
    state = train(new_state(corpus, TrainConfig(hidden=8, max_updates=20)), corpus)
    path = tmp_path / "ck.h5"
    save(state, str(path))
    before = path.read_bytes()
    marker = tmp_path / "inside"
    proc = subprocess.Popen([sys.executable, "-c", CHILD_SAVE, str(path), moment, str(marker)])
    deadline = time.monotonic() + TIMEOUT
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    proc.kill()
    assert proc.wait(TIMEOUT) == -signal.SIGKILL
    assert path.read_bytes() == before
    assert_same_state(load_state(str(path)), state)
    temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert [p.name for p in temps] == [os.path.basename(ckpt._temp_path(str(path), proc.pid))]
    save(state, str(path))                     # the next save removes the dead one's temp file
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_save_removes_only_temp_files_of_dead_processes(tmp_path, small_text):
    corpus = read_corpus(small_text)
    state = train(new_state(corpus, TrainConfig(hidden=4, max_updates=3)), corpus)
    path = tmp_path / "ck.h5"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {pid: os.path.basename(ckpt._temp_path(str(path), pid))
             for pid in (dead.pid, os.getppid())}
    for name in names.values():
        (tmp_path / name).write_bytes(b"half a checkpoint")
    (tmp_path / ".other.h5.x.1.tmp").write_bytes(b"not ours")
    save(state, str(path))
    left = {p.name for p in tmp_path.iterdir()}
    assert names[dead.pid] not in left                 # its writer is gone: removed
    assert names[os.getppid()] in left                 # its writer is alive: kept
    assert ".other.h5.x.1.tmp" in left                 # another checkpoint's: kept
    assert load_state(str(path)).update == 3


# -------------------------------------------------------------------- disk full / no access
def test_file_too_large_mid_run_keeps_the_previous_checkpoint(long_text, tmp_path):
    """A real failed write: the child's RLIMIT_FSIZE lets the checkpoint at update 1000 be
    written but not the bigger one at 2000 (os.write fails with EFBIG, as it would fail with
    ENOSPC on a full disk). This works as root too, where permissions cannot stop a write."""
    cfg_args = cli_opts(epochs=1, max_updates=3000, checkpoint_every=1000)
    cfg = TrainConfig(**OPTS, epochs=1, max_updates=3000, checkpoint_every=1000)
    at_1000 = reference(long_text, cfg, 1000)
    save(at_1000, str(tmp_path / "s1.h5"))
    at_2000 = reference(long_text, cfg, 2000)
    save(at_2000, str(tmp_path / "s2.h5"))
    small, big = (os.path.getsize(tmp_path / f"s{i}.h5") for i in (1, 2))
    assert big > small
    limit = (small + big) // 2
    log = tmp_path / "stderr.txt"
    proc = spawn([long_text, "-o", "ck.h5", *cfg_args, "-q"], tmp_path, log,
                 preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert proc.wait(TIMEOUT) == 1
    err = read(log)
    assert err.strip() == ("Error: cannot write ck.h5: File too large; the previous checkpoint "
                           "is unchanged; training stopped at update 2,000; the last good "
                           "checkpoint is ck.h5 (update 1,000)")
    assert_same_state(load_state(str(tmp_path / "ck.h5")), at_1000)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.fixture
def failing_writes(monkeypatch):
    """Make writes of checkpoint temp files fail with a chosen errno after `after` bytes (a
    disk that fills up mid-file) -- or their creation fail (after=None)."""
    real_open, real_write = os.open, os.write
    fds = set()

    def arm(code, after=None):
        def fake_open(path, flags, *args, **kw):
            if str(path).endswith(".tmp"):
                if after is None:
                    raise OSError(code, os.strerror(code), str(path))
                fd = real_open(path, flags, *args, **kw)
                fds.add(fd)
                return fd
            return real_open(path, flags, *args, **kw)

        def fake_write(fd, data):
            if fd in fds:
                room = after - os.fstat(fd).st_size
                if room <= 0:
                    raise OSError(code, os.strerror(code))
                return real_write(fd, bytes(data[:room]))
            return real_write(fd, data)

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "write", fake_write)

    return arm


def _train_until_write_fails(small_text, tmp_path, arm):
    """Train with a checkpoint every 40 updates; writes start failing after update 80."""
    import fastrnn.cli

    out = tmp_path / "ck.h5"
    on_checkpoint = fastrnn.cli.CheckpointingCallbacks.on_checkpoint

    def patched(self, state):
        if state.update > 80:
            arm()
        on_checkpoint(self, state)

    mp = pytest.MonkeyPatch()
    mp.setattr(fastrnn.cli.CheckpointingCallbacks, "on_checkpoint", patched)
    try:
        result = invoke("train", small_text, "-o", out, "--hidden", 8, "--max-updates", 200,
                        "--checkpoint-every", 40, "-q")
    finally:
        mp.undo()
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert load_state(str(out)).update == 80
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    return lines[0].replace(str(out), "ck.h5")


def test_disk_full_mid_write_keeps_the_previous_checkpoint(small_text, tmp_path,
                                                           failing_writes):
    msg = _train_until_write_fails(small_text, tmp_path,
                                   lambda: failing_writes(errno.ENOSPC, after=4096))
    assert msg == ("Error: cannot write ck.h5: No space left on device; the previous "
                   "checkpoint is unchanged; training stopped at update 120; the last good "
                   "checkpoint is ck.h5 (update 80)")


def test_output_directory_becoming_unwritable_keeps_the_previous_checkpoint(
        small_text, tmp_path, failing_writes):
    """Without root a chmod does it; root ignores permissions, so then creating the temp
    file is made to fail with EACCES, which is what the kernel would return."""
    if os.geteuid() == 0:
        arm = lambda: failing_writes(errno.EACCES)  # noqa: E731
    else:
        arm = lambda: os.chmod(tmp_path, 0o555)  # noqa: E731
    try:
        msg = _train_until_write_fails(small_text, tmp_path, arm)
    finally:
        os.chmod(tmp_path, 0o755)
    assert msg == ("Error: cannot write ck.h5: Permission denied; the previous checkpoint is "
                   "unchanged; training stopped at update 120; the last good checkpoint is "
                   "ck.h5 (update 80)")


def test_unwritable_output_directory_is_refused_before_training(small_text, tmp_path,
                                                                monkeypatch):
    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() == 0:     # root may write anywhere: make the permission check say no
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(target)
                            else real_access(p, mode, **kw))
    else:
        target.chmod(0o555)
    try:
        result = invoke("train", small_text, "-o", target / "ck.h5", "-q")
    finally:
        target.chmod(0o755)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == f"Error: --out: directory {target} is not writable"
    assert os.listdir(target) == []


def test_ctrl_c_before_the_command_starts_is_one_line(monkeypatch, capsys):
    """main() loads BLAS (threadpoolctl) before click runs the command: a Ctrl-C there is
    'Interrupted.' and exit 130 too, not a traceback."""
    import fastrnn.threads
    from fastrnn.cli import main

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(fastrnn.threads, "pin_process", interrupted)
    monkeypatch.setattr("sys.argv", ["fastrnn", "info", "x.h5"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 128 + signal.SIGINT
    assert capsys.readouterr().err == "Interrupted.\n"
