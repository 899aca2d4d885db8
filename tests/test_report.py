"""`fastrnn report`: report.md has every section with the checkpoint's own numbers, the plot
is a real PNG, nothing is overwritten silently, bad input gives one-line errors."""
from __future__ import annotations

import re

import h5py
import numpy as np
import pytest

from fastrnn.checkpoint import load_state
from fastrnn.trained import load
from fastrnn.config import GradcheckConfig, PlotConfig
from fastrnn.data import builtin_text, read_corpus
from fastrnn.gradcheck import gradcheck
from .pngfile import png_size
from .clitools import one_line_error as _one_line_error
from .clitools import run


def one_line_error(result):
    """report prints progress lines before failing late; only the error line counts."""
    return _one_line_error(result, exit_code=1,
                           ignore=("gradient check:", "loss plot", "sampling"))

SECTIONS = ("## 1. Data and hyper-parameters", "## 2. Gradient check", "## 3. Training loss",
            "### Validation", "## 4. Text evolution", "characters from the best model",
            "## 6. Timings")






@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A 2-epoch run with validation and samples, and its report (gradient check on TEXT)."""
    d = tmp_path_factory.mktemp("report")
    text = d / "small.txt"
    text.write_text(builtin_text()[:3000], encoding="utf-8")
    run("train", text, "-o", d / "ck.h5", "--hidden", 16, "--epochs", 2, "--sample-every", 50,
        "--sample-length", 60, "--val-frac", 0.1, "--eval-every", 40, "-q")
    run("report", d / "ck.h5", text, "-o", d / "report")
    return d, (d / "report" / "report.md").read_text(encoding="utf-8")


def test_report_has_every_section_in_order(reported):
    _, md = reported
    where = [md.find(s) for s in SECTIONS]
    assert -1 not in where and where == sorted(where)
    assert md.startswith("# Character-level vanilla RNN on small.txt")
    assert "![" in md and "](loss.png)" in md


def test_report_plot_is_a_real_png(reported):
    d, _ = reported
    path = d / "report" / "loss.png"
    cfg = PlotConfig()
    assert png_size(path) == (cfg.width, cfg.height)
    assert path.stat().st_size > 20_000


def test_report_hyperparameters_and_losses_are_the_checkpoints(reported):
    d, md = reported
    state = load_state(str(d / "ck.h5"))
    assert "| hidden units m | 16 |" in md
    assert f"| vocabulary size K | {len(state.vocab)} |" in md
    assert f"| updates | {state.update:,} ({state.update // 2:,} per epoch) |" in md
    assert "| epochs | 2 epochs |" in md
    per = state.update // 2
    for u in (per, 2 * per):
        s = state.smooth_history[u - 1]
        assert f"| end of epoch {u // per} ({u:,}) | {s:.3f} | {s / 25:.4f} |" in md
    assert f"| **best** ({state.best_update:,}) | {state.best_smooth:.3f} |" in md
    assert len(state.val_history) >= 3
    for u, v in state.val_history:
        assert f"| {u:,} | {v:.4f} | {v / np.log(2):.4f} | {np.exp(v):.3f} |" in md


def test_report_gradient_check_table_is_recomputed_on_text(reported):
    d, md = reported
    corpus = read_corpus(str(d / "small.txt"))
    rows = gradcheck(corpus.ids, len(corpus.vocab), GradcheckConfig(hidden=5))
    section = md[md.find("## 2. Gradient check"):md.find("## 3. Training loss")]
    assert f"m = 5, K = {len(corpus.vocab)}" in section and "of small.txt" in section
    for r in rows:
        shape = "\u00d7".join(map(str, r.shape))
        assert f"| `{r.name}` | {shape} | {r.max_error:.3e} | {r.mean_error:.3e} |" in section
    assert "**passed**" in section and "Note" not in section


def test_report_text_evolution_and_best_sample(reported):
    d, md = reported
    state = load_state(str(d / "ck.h5"))
    assert len(state.samples) >= 3
    evolution = md[md.find("## 4. Text evolution"):md.find("## 5.")]
    for u, s, text in state.samples:
        assert f"| {u:,} | {s:.3f} | {s / 25:.4f} |" in evolution
        assert f"**Update {u:,}**, smooth loss {s:.3f}:\n\n```text\n{text}\n```" in evolution
    best = load(str(d / "ck.h5"), "best").sample(1000, seed=0)
    assert "## 5. 1,000 characters from the best model" in md
    assert f"```text\n{best}\n```" in md
    assert f"update {state.best_update:,}, smooth loss {state.best_smooth:.3f}" in md


def test_report_timings(reported):
    d, md = reported
    state = load_state(str(d / "ck.h5"))
    timings = md[md.find("## 6. Timings"):]
    speed = 25 * state.update / state.wall_time
    assert f"{speed:,.0f} characters/s" in timings
    assert re.search(r"\| gradient check \| \d+\.\d s \|", timings)


def test_report_without_text_uses_the_builtin_corpus_and_says_so(reported):
    d, _ = reported
    run("report", d / "ck.h5", "-o", d / "builtin", "-n", 300, "--seed", 3)
    md = (d / "builtin" / "report.md").read_text(encoding="utf-8")
    assert "**Note.**" in md and "builtin:python-docs" in md
    assert "## 5. 300 characters from the best model" in md
    assert load(str(d / "ck.h5"), "best").sample(300, seed=3) in md


def test_report_refuses_to_overwrite(reported):
    d, _ = reported
    out = d / "again"
    run("report", d / "ck.h5", d / "small.txt", "-o", out)
    before = (out / "report.md").read_bytes()
    msg = one_line_error(run("report", d / "ck.h5", d / "small.txt", "-o", out, ok=False))
    assert "report.md" in msg and "--overwrite" in msg
    assert (out / "report.md").read_bytes() == before
    run("report", d / "ck.h5", d / "small.txt", "-o", out, "--overwrite", "-n", 200)
    assert "## 5. 200 characters" in (out / "report.md").read_text(encoding="utf-8")


def test_report_bad_input_gives_one_line_errors(reported, tmp_path):
    d, _ = reported
    ckpt = d / "ck.h5"
    assert "no such checkpoint" in one_line_error(
        run("report", tmp_path / "missing.h5", "-o", tmp_path / "r", ok=False))
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.arange(3)
    assert "not a fastrnn checkpoint" in one_line_error(
        run("report", tmp_path / "other.h5", "-o", tmp_path / "r", ok=False))
    (tmp_path / "file.txt").write_text("a short text")
    assert "is a file" in one_line_error(
        run("report", ckpt, "-o", tmp_path / "file.txt", ok=False))
    assert "not a directory" in one_line_error(
        run("report", ckpt, "-o", tmp_path / "file.txt" / "r", ok=False))
    assert "no such file" in one_line_error(
        run("report", ckpt, tmp_path / "nope.txt", "-o", tmp_path / "r", ok=False))
    assert "the check needs seq-length+1 = 26" in one_line_error(
        run("report", ckpt, tmp_path / "file.txt", "-o", tmp_path / "r", ok=False))
    assert not (tmp_path / "r").exists()       # a failed report leaves no directory behind


def test_report_lists_learning_rate_changes_made_on_resume(tmp_path):
    text = tmp_path / "small.txt"
    text.write_text(builtin_text()[:3000], encoding="utf-8")
    ck = tmp_path / "ck.h5"
    base = ["train", text, "-o", ck, "--hidden", 8, "--sample-every", 0, "-q"]
    run(*base, "--max-updates", 30)
    run(*base, "--max-updates", 60, "--resume", ck, "--eta", 0.05)
    run("report", ck, text, "-o", tmp_path / "report", "--gradcheck-hidden", 2, "-n", 20)
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "| changed on --resume | eta 0.1 -> 0.05 from update 30 |" in md
    hp = md[md.find("## 1."):md.find("## 2.")]
    assert "eta 0.1 -> 0.05 from update 30" in hp


def test_report_of_a_run_beyond_the_course_names_what_it_used(tmp_path):
    """An LSTM/GRU report describes that model and its optimizer: no AdaGrad ε, no N(0, σ²)
    weights that the run never drew, and a gradient check of the run's own cell and layers."""
    text = tmp_path / "small.txt"
    text.write_text(builtin_text()[:3000], encoding="utf-8")
    ck = tmp_path / "g.h5"
    base = ["train", text, "-o", ck, "--cell", "gru", "--layers", 2, "--batch", 3,
            "--hidden", 8, "--optimizer", "rmsprop", "--dropout", 0.1, "--eta-decay", 0.9,
            "--sample-every", 0, "-q"]
    run(*base, "--max-updates", 10)
    run(*base, "--max-updates", 20, "--resume", ck, "--alpha", 0.9)
    run("report", ck, text, "-o", tmp_path / "report", "--gradcheck-hidden", 2, "-n", 20)
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    hp = md[md.find("## 1."):md.find("## 2.")]
    for row in ("| cell | GRU (PyTorch's formulation) |", "| layers | 2 |",
                "| parallel streams B | 3 |", "| learning rate η (RMSprop) | 0.002 |",
                "| changed on --resume | alpha 0.95 -> 0.9 from update 10 |",
                "| RMSprop decay α | 0.9 |", "| RMSprop ε | 1e-08 |",
                "| η decay | ×0.9 at the end of every epoch from epoch 1 |",
                "| initial weights | U(−1/√m, 1/√m) = ±0.354, biases 0 |"):
        assert row in hp, row
    assert "This run trains 2 stacked GRU layers of m = 8 units" in hp
    assert "one update per 3 × τ characters" in hp
    assert "AdaGrad ε" not in hp and "σ" not in hp and "(U, W, V, b, c)" not in hp
    check = md[md.find("## 2."):md.find("## 3.")]
    assert "a 2-layer GRU like the run's, 3 streams" in check and "**passed**" in check
    for name in ("l1.W_x", "l1.b_hn", "l2.W_h", "W_y"):
        assert f"| `{name}` |" in check


def test_report_of_an_adam_lstm_names_adams_settings(tmp_path):
    text = tmp_path / "small.txt"
    text.write_text(builtin_text()[:3000], encoding="utf-8")
    ck = tmp_path / "l.h5"
    run("train", text, "-o", ck, "--cell", "lstm", "--hidden", 6, "--optimizer", "adam",
        "--beta1", 0.8, "--max-updates", 10, "--sample-every", 0, "-q")
    run("report", ck, text, "-o", tmp_path / "report", "--gradcheck-hidden", 2, "-n", 20)
    hp = (tmp_path / "report" / "report.md").read_text(encoding="utf-8").split("## 2.")[0]
    assert "| Adam decays β₁, β₂ | 0.8, 0.999 |" in hp and "| Adam ε | 1e-08 |" in hp
    assert "| learning rate η (Adam) | 0.002 |" in hp and "| parallel streams B | 1 |" in hp
    assert "dropout" not in hp and "η decay" not in hp


def test_report_reads_json_records_as_the_run_did(tmp_path):
    """TEXT given as the run's JSON records is read as records (not as raw JSON text): the
    gradient check's vocabulary is the checkpoint's, with its end-of-record symbol."""
    import os
    records = os.path.join(os.path.dirname(__file__), "..", "data", "records-sample.json")
    ck = tmp_path / "r.h5"
    run("train", records, "--reset-per-record", "--cell", "gru", "--hidden", 6,
        "--max-updates", 10, "--sample-every", 0, "-o", ck, "-q")
    run("report", ck, records, "-o", tmp_path / "report", "--gradcheck-hidden", 2, "-n", 20)
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    check = md[md.find("## 2."):md.find("## 3.")]
    assert f"K = {len(load_state(str(ck)).vocab)}," in check
    assert "probably not the text" not in check and "**passed**" in check


def test_section_1_describes_per_record_training():
    from fastrnn.config import TrainConfig
    from fastrnn.report import _model_text

    strips = _model_text(TrainConfig(cell="lstm", batch=4))
    assert "cut into 4 strips" in strips and "record" not in strips
    streams = _model_text(TrainConfig(cell="lstm", batch=4, reset_per_record=True))
    assert "4 streams take whole records" in streams and "strips" not in streams
    assert "one record at a time" in streams      # the course's model, for reference
    course = _model_text(TrainConfig(reset_per_record=True))
    assert course.startswith("The model is") and "one record at a time" in course
    assert "from chunk to chunk within an epoch" not in course


def test_the_reports_sample_command_can_be_typed_again(tmp_path, monkeypatch):
    """It named the checkpoint by its bare file name, unquoted: `fastrnn sample c k.h5` for
    `sp ace/c k.h5`. Run as printed, from where report ran, it draws the report's text."""
    import shlex

    from .clitools import run

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sp ace").mkdir()
    ck = "sp ace/c k.h5"
    run("train", "builtin:python-docs", "--hidden", 8, "--max-updates", 30, "-q", "-o", ck)
    run("report", ck, "-o", "r", "-n", 50)
    md = (tmp_path / "r" / "report.md").read_text()
    command = re.search(r"\(`(fastrnn sample [^`]+)`", md).group(1)
    args = shlex.split(command)
    assert args[2] == ck
    drawn = run(*args[1:]).output.strip()
    assert drawn and drawn in md
