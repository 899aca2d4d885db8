"""The training progress display: fits an 80-column terminal, leaves no stale lines, and
prints plain periodic lines (with the validation loss) when stderr is a pipe."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import types

from fastrnn.progress import Progress

COLS = 80
ESC = re.compile(r"\x1b\[(\d*)([A-Za-z])")


def terminal_screen(data: str, cols: int = COLS):
    """Replay terminal output on a simple screen: \\r, \\n, cursor up, erase line and
    automatic wrapping at `cols`. Returns (rows, number of wraps)."""
    rows, r, c, wraps, i = [[]], 0, 0, 0, 0
    while i < len(data):
        m = ESC.match(data, i)
        if m:
            n, op = int(m.group(1) or 1), m.group(2)
            if op == "A":
                r = max(r - n, 0)
            elif op == "K":
                del rows[r][c:]
            i = m.end()
            continue
        ch = data[i]
        i += 1
        if ch == "\r":
            c = 0
        elif ch == "\n":
            r += 1
            c = 0
        elif ch == "\x1b" or ch < " ":
            continue
        else:
            if c >= cols:                     # the terminal wraps: one more line on screen
                wraps += 1
                r, c = r + 1, 0
            while len(rows) <= r:
                rows.append([])
            row = rows[r]
            row.extend(" " * (c - len(row) + 1))
            row[c] = ch
            c += 1
        while len(rows) <= r:
            rows.append([])
    return ["".join(row).rstrip() for row in rows], wraps


def _train_args(small_text, out, *extra):
    return [sys.executable, "-m", "fastrnn", "train", small_text, "-o", str(out), "--hidden", "8",
            "--max-updates", "6000", "--epochs", "100", "--sample-every", "2000", "--sample-length", "30",
            "--checkpoint-every", "0", *extra]


def test_terminal_of_80_columns_shows_one_bar_that_fits(small_text, tmp_path):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLS, 0, 0))
    env = dict(os.environ, COLUMNS=str(COLS))
    proc = subprocess.Popen(_train_args(small_text, tmp_path / "t.h5"), stdin=slave,
                            stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:                        # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    out = b"".join(chunks).decode("utf-8", "replace")
    assert "%|" in out, "no progress bar was drawn on the terminal:\n" + out
    rows, wraps = terminal_screen(out)
    assert wraps == 0, "a line longer than 80 columns wrapped:\n" + out
    assert all(len(row) <= COLS for row in rows)
    stale = [row for row in rows if "%|" in row or "ETA" in row]
    assert stale == [], "progress lines left on the screen:\n" + "\n".join(rows)
    assert any(row.startswith("done: 6,000 updates") for row in rows)
    assert sum(row.startswith("--- update") for row in rows) == 3      # samples kept intact


def test_pipe_gets_periodic_plain_lines_with_the_validation_loss(small_text, tmp_path):
    proc = subprocess.run(_train_args(small_text, tmp_path / "p.h5", "--val-frac", "0.2",
                                      "--eval-every", "1000", "--log-every", "0"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "\r" not in proc.stderr and "%|" not in proc.stderr
    logs = [line for line in lines if line.startswith("update ")]
    assert len(logs) >= 6, proc.stderr
    for field in ("epoch ", "smooth loss ", "val loss ", "chars/s", "ETA "):
        assert all(field in line for line in logs), (field, logs)
    # the latest finished validation, with the update it is of (it runs behind training)
    assert re.search(r"val loss \d+\.\d{4} nats/char \(update \d{1,3}(,\d{3})*\)", logs[-1])
    done = [line for line in lines if line.startswith("done:")]
    assert len(done) == 1 and re.search(r"val loss \d+\.\d{4} nats/char", done[0])


def _state(update, epoch=0):
    cfg = types.SimpleNamespace(seq_length=25, dtype="float64", chars_per_update=25.0)
    return types.SimpleNamespace(update=update, epoch=epoch, smooth_loss=50.0, config=cfg,
                                 val_history=[], corpus_name="x", corpus_chars=1000,
                                 vocab="ab", hidden=4)


def test_plain_lines_come_every_log_every_seconds(monkeypatch):
    import io

    import fastrnn.progress as progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    p = Progress(stream, tty=False, log_every=10)
    p.start(_state(0), 1000, 100)
    for update, now in ((100, 103), (200, 109), (300, 111), (400, 115), (500, 121.5)):
        clock[0] = now
        p.progress(_state(update), 5000.0)
    logs = [line for line in stream.getvalue().splitlines() if line.startswith("update")]
    assert [line.split()[1] for line in logs] == ["300/1,000", "500/1,000"]
    assert "ETA" in logs[0] and "val loss n/a" in logs[0]


def test_quiet_prints_nothing(small_text, tmp_path):
    proc = subprocess.run(_train_args(small_text, tmp_path / "q.h5", "-q"), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
