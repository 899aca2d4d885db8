"""`fastrnn plot`: a real PNG of the asked size with the run's curves, no silent overwrite,
one-line errors."""
from __future__ import annotations


import h5py
import numpy as np
import pytest

from fastrnn.checkpoint import load_state
from fastrnn.config import PlotConfig
from fastrnn.data import builtin_text, chunk_schedule, read_corpus, split_validation
from fastrnn.plot import loss_figure
from .pngfile import png_size
from .clitools import one_line_error, run






@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """500 updates on 4800 training characters (2.6 epochs), validation every 100."""
    d = tmp_path_factory.mktemp("plot")
    text = d / "small.txt"
    text.write_text(builtin_text()[:6000], encoding="utf-8")
    run("train", text, "-o", d / "ck.h5", "--hidden", 16, "--epochs", 3, "--max-updates", 500,
        "--sample-every", 0, "--val-frac", 0.2, "--eval-every", 100, "-q")
    return d


def test_png_has_the_asked_size_and_real_content(run_dir):
    out = run_dir / "loss.png"
    result = run("plot", run_dir / "ck.h5", "-o", out, "--width", 800, "--height", 500)
    assert "wrote" in result.output
    assert png_size(out) == (800, 500)
    import matplotlib.image

    img = matplotlib.image.imread(str(out))
    assert img.shape[:2] == (500, 800)
    rgb = img[..., :3].reshape(-1, 3)
    assert (rgb.min(axis=1) < 0.9).mean() > 0.02            # not a blank page
    colours = np.unique((rgb * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50                                 # curves, text, anti-aliasing
    orange = (rgb[:, 0] > 0.9) & (0.4 < rgb[:, 1]) & (rgb[:, 1] < 0.6) & (rgb[:, 2] < 0.2)
    assert orange.sum() > 50                                 # the validation curve is drawn


def test_default_size_and_other_formats(run_dir):
    run("plot", run_dir / "ck.h5", "-o", run_dir / "default.png")
    cfg = PlotConfig()
    assert png_size(run_dir / "default.png") == (cfg.width, cfg.height)
    run("plot", run_dir / "ck.h5", "-o", run_dir / "loss.svg", "--log-y")
    assert "<svg" in (run_dir / "loss.svg").read_text()


def test_figure_draws_the_runs_numbers(run_dir):
    state = load_state(str(run_dir / "ck.h5"))
    lines = {}
    ax = loss_figure(state).axes[0]
    for line in ax.lines:
        lines.setdefault(line.get_gid(), []).append(line)
    np.testing.assert_array_equal(lines["loss"][0].get_ydata(), state.loss_history[:500])
    np.testing.assert_array_equal(lines["smooth"][0].get_ydata(), state.smooth_history[:500])
    train_part, _ = split_validation(read_corpus(str(run_dir / "small.txt")), 0.2)
    per = len(chunk_schedule(train_part, 25)[0])
    assert [ln.get_xdata()[0] for ln in lines["epoch"]] == [per, 2 * per]
    vu, vl = np.array(state.val_history).T
    np.testing.assert_array_equal(lines["validation"][0].get_xdata(), vu)
    np.testing.assert_allclose(lines["validation"][0].get_ydata(), vl * 25)
    best = lines["best"][0]
    assert (best.get_xdata()[0], best.get_ydata()[0]) == (state.best_update, state.best_smooth)
    title = ax.get_title()
    assert "small.txt" in title and "m=16" in title and "500 updates" in title
    assert ax.get_xlabel() == "update" and "nats" in ax.get_ylabel()


def test_options_changed_on_resume_are_one_line_per_resume_with_all_its_changes(run_dir):
    state = load_state(str(run_dir / "ck.h5"))
    state.changes = ([(100, "eta", 0.1, 0.05), (100, "clip", 5.0, 3.0),
                      (100, "eta_decay", 1.0, 0.9), (100, "decay_after", 1.0, 2.0),
                      (100, "dropout", 0.0, 0.1)]
                     + [(200 + 50 * i, "eta", 0.05, 0.04 - 0.01 * i) for i in range(5)])
    ax = loss_figure(state).axes[0]
    drawn = [ln for ln in ax.lines if ln.get_gid() == "change"]
    assert [ln.get_xdata()[0] for ln in drawn] == [100, 200, 250, 300, 350, 400]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert ("eta 0.1 \u2192 0.05, clip 5 \u2192 3, eta_decay 1 \u2192 0.9, decay_after 1 "
            "\u2192 2, dropout 0 \u2192 0.1 (resumed)") in labels
    assert "2 more resumes with changes (fastrnn info)" in labels


def test_refuses_to_overwrite_without_flag(run_dir):
    out = run_dir / "twice.png"
    run("plot", run_dir / "ck.h5", "-o", out)
    before = out.read_bytes()
    msg = one_line_error(run("plot", run_dir / "ck.h5", "-o", out, "--width", 640, ok=False))
    assert "exists" in msg and "--overwrite" in msg
    assert out.read_bytes() == before
    run("plot", run_dir / "ck.h5", "-o", out, "--width", 640, "--overwrite")
    assert png_size(out)[0] == 640


def test_bad_input_gives_one_line_errors(run_dir, tmp_path):
    ckpt = run_dir / "ck.h5"
    assert "no such checkpoint" in one_line_error(
        run("plot", tmp_path / "missing.h5", "-o", tmp_path / "a.png", ok=False))
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.arange(3)
    assert "not a fastrnn checkpoint" in one_line_error(
        run("plot", tmp_path / "other.h5", "-o", tmp_path / "a.png", ok=False))
    (tmp_path / "file.txt").write_text("x")
    assert "does not exist" in one_line_error(
        run("plot", ckpt, "-o", tmp_path / "nodir" / "a.png", ok=False))
    assert "a.png" in one_line_error(
        run("plot", ckpt, "-o", tmp_path / "file.txt" / "a.png", ok=False))
    assert "unknown image type '.bmpx'" in one_line_error(
        run("plot", ckpt, "-o", tmp_path / "a.bmpx", ok=False))
    assert "is a directory" in one_line_error(run("plot", ckpt, "-o", tmp_path, ok=False))
    assert not (tmp_path / "a.png").exists()


def test_text_that_does_not_fit_is_a_note_not_a_python_warning(run_dir, recwarn):
    out = run("plot", run_dir / "ck.h5", "-o", run_dir / "tiny.png", "--width", 200,
              "--height", 150).output
    assert "wrote" in out and "note: the text does not fit 200x150 pixels" in out
    assert "Warning" not in out and not [w for w in recwarn if "layout" in str(w.message)]
    assert png_size(run_dir / "tiny.png") == (200, 150)
