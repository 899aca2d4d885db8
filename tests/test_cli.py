"""The command line through click's CliRunner: happy paths and one-line errors."""
from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

from fastrnn.checkpoint import load_state
from .clitools import one_line_error, run




@pytest.fixture
def trained(small_text, tmp_path):
    out = tmp_path / "ck.h5"
    result = run("train", small_text, "--out", out, "--hidden", 16, "--max-updates", 300,
                 "--sample-every", 100, "--sample-length", 40, "--checkpoint-every", 100)
    return out, result


def test_train_writes_a_checkpoint_and_prints_samples(trained):
    out, result = trained
    state = load_state(str(out))
    assert state.update == 300 and state.config.hidden == 16
    assert [s[0] for s in state.samples] == [0, 100, 200]
    assert "--- update 0," in result.output and "--- update 200," in result.output
    assert "done: 300 updates" in result.output


def test_sample_prints_n_characters_from_the_vocabulary(trained, small_text):
    out, _ = trained
    vocab = set(open(small_text, encoding="utf-8").read())
    text = run("sample", out, "-n", 500, "--seed", 4).output[:-1]   # one final newline
    assert len(text) == 500 and set(text) <= vocab
    assert run("sample", out, "-n", 500, "--seed", 4).output[:-1] == text
    latest = run("sample", out, "-n", 500, "--seed", 4, "--latest").output[:-1]
    assert latest != text
    primed = run("sample", out, "-n", 50, "--prime", "The ", "--top-p", 0.9, "-t", 0.7).output
    assert primed.startswith("The ") and len(primed) == 4 + 50 + 1


def test_gradcheck_prints_the_table_and_passes():
    result = run("gradcheck", "--hidden", 5)
    for name in ("b", "c", "U", "V", "W"):
        assert any(line.startswith(name + " ") for line in result.output.splitlines())
    assert "passed" in result.output


def test_gradcheck_exits_1_when_threshold_is_impossible():
    result = run("gradcheck", "--threshold", 1e-15, ok=False)
    assert result.exit_code == 1 and "FAILED" in result.output


def test_json_records_train(tmp_path):
    import json

    tweets = [{"text": f"tweet number {i}: make char-rnns fast again #{i % 7}"} for i in range(60)]
    path = tmp_path / "tweets.json"
    path.write_text(json.dumps(tweets))
    out = tmp_path / "t.h5"
    run("train", path, "-o", out, "--hidden", 8, "--epochs", 2, "--reset-per-record",
        "--sample-every", 0, "-q")
    state = load_state(str(out))
    assert state.config.reset_per_record
    assert state.update == 2 * 60 * 2                  # each ~50-char tweet: 25 + partial chunk




def test_error_missing_file(tmp_path):
    msg = one_line_error(run("train", tmp_path / "nope.txt", "-o", tmp_path / "o.h5", ok=False))
    assert "no such file" in msg


def test_error_empty_file(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    msg = one_line_error(run("train", tmp_path / "empty.txt", "-o", tmp_path / "o.h5", ok=False))
    assert "empty" in msg


def test_error_corpus_shorter_than_seq_length(tmp_path):
    (tmp_path / "short.txt").write_text("abcdefghij" * 2)
    msg = one_line_error(run("train", tmp_path / "short.txt", "-o", tmp_path / "o.h5", ok=False))
    assert "shorter than seq-length+1 = 26" in msg
    assert not (tmp_path / "o.h5").exists()


def test_error_non_fastrnn_h5(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.arange(3)
    msg = one_line_error(run("sample", tmp_path / "other.h5", ok=False))
    assert "not a fastrnn checkpoint" in msg


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "fastrnn", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "gradcheck" in out and "train" in out
