"""What a newcomer meets on the command line: help, usage errors, the order of the checks,
resuming a finished run, option defaults as shown, the gradient-check header."""
from __future__ import annotations

import subprocess
import sys

from fastrnn.checkpoint import load_state
from .clitools import one_line_error, run


def test_bare_fastrnn_prints_the_normal_help():
    proc = subprocess.run([sys.executable, "-m", "fastrnn"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Error" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith("Usage: fastrnn")
    assert "\n  train " in proc.stdout and "\n  sample " in proc.stdout   # one command a line


def test_missing_argument_points_at_help():
    msg = one_line_error(run("train", ok=False), exit_code=2)
    assert "Missing argument 'TEXT'" in msg and msg.endswith("train -h'")


def test_input_is_checked_before_the_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt.h5").write_bytes(b"")
    msg = one_line_error(run("train", "nosuch.txt", ok=False))
    assert "no such file: nosuch.txt" in msg


def test_resuming_a_finished_run_says_how_to_extend_it(small_text, tmp_path):
    out = tmp_path / "f.h5"
    run("train", small_text, "-o", out, "--hidden", 8, "--epochs", 1, "-q")
    before = load_state(str(out)).update
    result = run("train", small_text, "--resume", out)
    assert "already finished" in result.output and "--epochs 2" in result.output
    assert "chars/s" not in result.output
    assert load_state(str(out)).update == before
    run("train", small_text, "--resume", out, "--epochs", 2, "-q")
    assert load_state(str(out)).update == 2 * before


def test_train_help_shows_the_separator_escaped():
    out = run("train", "-h").output
    line = out[out.index("--record-separator"):]
    assert "[default: \\n]" in " ".join(line.split()[:40])


def test_gradcheck_header_names_its_corpus(small_text):
    assert "gradient check on builtin:python-docs" in run("gradcheck").output
    assert "gradient check on small.txt" in run("gradcheck", small_text).output


def test_shared_options_are_declared_once():
    import inspect
    import re

    import fastrnn.cli as cli

    src = inspect.getsource(cli)
    for opt in ("--encoding", "--best/--latest", "--json-field", "--overwrite",
                "--unescape-html"):
        assert len(re.findall(r'click\.option\(\s*"' + re.escape(opt) + '"', src)) == 1, opt
