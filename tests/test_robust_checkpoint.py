"""Checkpoints that are damaged, tampered with, symlinked or long (issue "never lose
training, part 2", items 8, 9, 11, 12): every problem is one `Error:` line, never a
traceback, a hang or a silent load; saves write through links, keep the file's mode, and
cost the same at any run length.
"""
from __future__ import annotations

import io
import json
import os
import random
import shutil
import stat

import h5py
import numpy as np
import pytest

import fastrnn.checkpoint as ckpt
from fastrnn.runstate import fixed_fields
from fastrnn.checkpoint import load_state, save
from fastrnn.config import TrainConfig
from fastrnn.data import builtin_text, read_corpus
from fastrnn.errors import FastrnnError
from fastrnn.model import PARAM_NAMES
from fastrnn.train import new_state, train

from .clitools import invoke, one_line_error
from .statecmp import assert_same_state

TEXT = builtin_text()[:3000]


_cli = invoke      # the one CLI helper (tests/clitools.py)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("made")
    (d / "corpus.txt").write_text(TEXT, encoding="utf-8")
    assert _cli("train", d / "corpus.txt", "-o", d / "ck.h5", "--hidden", 8, "--max-updates",
                60, "--sample-every", 20, "--val-frac", 0.1, "--eval-every", 20,
                "-q").exit_code == 0
    return d


@pytest.fixture
def work(made, tmp_path, monkeypatch):
    for name in ("corpus.txt", "ck.h5"):
        shutil.copy(made / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edited(work, edit) -> str:
    shutil.copy(work / "ck.h5", work / "bad.h5")
    with h5py.File(work / "bad.h5", "r+") as f:
        edit(f)
    return "bad.h5"


def _set_config(**kw):
    def edit(f):
        cfg = json.loads(f.attrs["config"])
        cfg.update(kw)
        f.attrs["config"] = json.dumps(cfg)
    return edit


def _params_as_strings(f):
    del f["params/b"]
    f["params/b"] = np.array(["x"] * 8, dtype=h5py.string_dtype())


def _self_link(f):
    del f["params"]
    f["params"] = h5py.SoftLink("/params")


def _edit_sample_letter(f):
    raw = f["samples/text_json"][()]
    i = next(i for i, byte in enumerate(raw) if chr(byte).isalpha() and chr(byte) != "u")
    raw[i] = ord("Q") if raw[i] != ord("Q") else ord("R")
    f["samples/text_json"][...] = raw


def _attr(group, name, value):
    return lambda f: f[group].attrs.__setitem__(name, value)


TAMPERED = {
    "format-version-string": (lambda f: f.attrs.__setitem__("format_version", "one"),
                              "format_version is 'one', not an integer"),
    "format-version-array": (lambda f: f.attrs.__setitem__("format_version", [1, 2]),
                             "not an integer"),
    "param-as-strings": (_params_as_strings, ""),
    "config-a-list": (lambda f: f.attrs.__setitem__("config", "[1, 2]"),
                      "config is a JSON array, not an object"),
    "config-wrong-type": (_set_config(hidden="8"), "--hidden must be an integer, got '8'"),
    "eval-every-0": (_set_config(eval_every=0), "--eval-every must be >= 1, got 0"),
    "seq-length-0": (_set_config(seq_length=0), "--seq-length must be >= 1, got 0"),
    "dtype-int8": (_set_config(dtype="int8"), "--dtype must be one of float64, float32"),
    "self-soft-link": (_self_link, ""),
    "x0-huge": (_attr("best", "x0", 10**11), "/best x0 = 100000000000 is outside"),
    "x0-out-of-range": (_attr("best", "x0", 10**6), "/best x0 = 1000000 is outside"),
    "next-x0-negative": (_attr("state", "next_x0", -1), "/state next_x0 = -1 is outside"),
    "update-float": (_attr("state", "update", 60.5), "/state update is 60.5, not an integer"),
    "sample-text-edited": (_edit_sample_letter, "checksum does not match"),
    "weight-edited": (lambda f: f["params/W"].__setitem__((0, 0), 1.0),
                      "checksum does not match"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
@pytest.mark.parametrize("command", ["sample", "info", "resume"])
def test_tampered_checkpoint_is_one_line(work, case, command):
    edit, part = TAMPERED[case]
    path = edited(work, edit)
    before = (work / path).read_bytes()
    args = {"sample": ["sample", path, "-n", 20], "info": ["info", path],
            "resume": ["train", "corpus.txt", "--resume", path, "--max-updates", 80, "-q"]}
    line = one_line_error(_cli(*args[command]))
    assert line.startswith(f"Error: {path}: "), line
    assert part in line
    assert (work / path).read_bytes() == before


def test_random_bit_flips_are_reported_or_harmless(work):
    """50 seeded single-bit flips: each is an error, or (a flip in bytes no value lives in)
    the load gives exactly the original state."""
    raw = (work / "ck.h5").read_bytes()
    original = load_state("ck.h5")
    rng = random.Random(8)
    reported = 0
    for i in range(50):
        pos = rng.randrange(len(raw))
        flipped = bytearray(raw)
        flipped[pos] ^= 1 << rng.randrange(8)
        (work / "flip.h5").write_bytes(bytes(flipped))
        result = _cli("info", "flip.h5")
        if result.exit_code != 0:
            assert one_line_error(result).startswith("Error: flip.h5"), (i, pos)
            reported += 1
        else:
            assert_same_state(load_state("flip.h5"), original)
    assert reported > 25


# ------------------------------------------------------------------------- 11. paths, mode
def test_out_under_a_file_says_so(work):
    line = one_line_error(_cli("train", "corpus.txt", "-o", "corpus.txt/ck.h5", "-q"))
    assert line == f"Error: --out: {work / 'corpus.txt'} is a file, not a directory"


def test_resume_through_a_symlink_writes_the_target_and_keeps_its_mode(work):
    os.mkdir("real")
    shutil.move("ck.h5", "real/ck.h5")
    os.chmod("real/ck.h5", 0o600)
    os.symlink("real/ck.h5", "link.h5")
    assert _cli("train", "corpus.txt", "--resume", "link.h5", "--max-updates", 70,
                "-q").exit_code == 0
    assert os.path.islink("link.h5")
    assert load_state("real/ck.h5").update == 70
    assert stat.S_IMODE(os.stat("real/ck.h5").st_mode) == 0o600


# ---------------------------------------------------------------- 12. history at any length
def _state(updates, hidden=4, text=None):
    corpus = read_corpus(text) if text else read_corpus(None)
    return train(new_state(corpus, TrainConfig(hidden=hidden, max_updates=updates,
                                               sample_every=50, sample_length=10)), corpus)


@pytest.fixture
def inline_limit(monkeypatch):
    monkeypatch.setattr(ckpt, "HISTORY_INLINE", 100)


def test_long_history_goes_to_a_companion_and_resumes_exactly(tmp_path, inline_limit,
                                                              small_text):
    out = str(tmp_path / "ck.h5")
    assert _cli("train", small_text, "-o", out, "--hidden", 6, "--max-updates", 150,
                "--checkpoint-every", 40, "-q").exit_code == 0
    assert os.path.exists(out + ".history")
    assert _cli("train", small_text, "--resume", out, "--max-updates", 230, "-q").exit_code == 0
    corpus = read_corpus(small_text)
    ref = train(new_state(corpus, TrainConfig(hidden=6, max_updates=230, checkpoint_every=40)),
                corpus)
    assert_same_state(load_state(out), ref)


def test_a_crash_between_the_two_writes_leaves_a_consistent_prefix(tmp_path, inline_limit):
    out = str(tmp_path / "ck.h5")
    state = _state(300)
    save(state, out)
    with open(out + ".history", "ab") as fh:          # records of a save that never finished
        fh.write(np.arange(64, dtype="<f8").tobytes())
    got = load_state(out)
    assert_same_state(got, state)
    save(got, out)                                    # the next save cuts them off
    assert os.path.getsize(out + ".history") == len(ckpt.HISTORY_MAGIC) + 16 * 300


@pytest.mark.parametrize("fails", ["_write", "_pwrite_all"])    # the checkpoint, the companion
def test_a_failed_save_of_another_run_leaves_the_previous_checkpoint_whole(
        tmp_path, inline_limit, monkeypatch, fails):
    """`train --overwrite` of another long run onto a checkpoint with a companion: the new
    companion is written beside the old one and moved into place only with the checkpoint,
    so a save that fails (disk full) leaves the previous pair loadable, as its message says
    (the companion was rewritten in place first and the previous checkpoint was damaged)."""
    out = str(tmp_path / "ck.h5")
    previous = _state(300)
    save(previous, out)
    other = train(new_state(read_corpus(None), TrainConfig(hidden=4, seed=1, max_updates=200,
                                                            sample_every=0)), read_corpus(None))

    def disk_full(*args):
        if fails == "_pwrite_all":              # part of the records reach the disk
            fd, data, offset = args
            os.pwrite(fd, bytes(len(data) // 2), offset)
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(ckpt, fails, disk_full)
        with pytest.raises(FastrnnError, match="the previous checkpoint is unchanged"):
            save(other, out)
    assert_same_state(load_state(out), previous)
    assert sorted(os.listdir(tmp_path)) == ["ck.h5", "ck.h5.history"]    # no temp files left
    save(other, out)
    assert_same_state(load_state(out), other)


def test_a_pair_renamed_together_still_loads_and_resumes(tmp_path, inline_limit):
    """ck.h5 + ck.h5.history moved to final.h5 + final.h5.history: the checkpoint names its
    companion ck.h5.history, and loading said it was missing though both were there."""
    state = _state(300)
    save(state, str(tmp_path / "ck.h5"))
    (tmp_path / "d").mkdir()
    os.rename(tmp_path / "ck.h5", tmp_path / "d" / "final.h5")
    os.rename(tmp_path / "ck.h5.history", tmp_path / "d" / "final.h5.history")
    got = load_state(str(tmp_path / "d" / "final.h5"))
    assert_same_state(got, state)
    # the old name taken again by another run beside it: its companion fails the checksum,
    # the pair's own one is read
    shutil.copy(tmp_path / "d" / "final.h5", tmp_path / "d" / "ck.h5")
    save(_state(250, hidden=5), str(tmp_path / "d" / "ck.h5"))
    assert_same_state(load_state(str(tmp_path / "d" / "final.h5")), state)
    save(got, str(tmp_path / "d" / "final.h5"))          # and saves under its own name
    assert_same_state(load_state(str(tmp_path / "d" / "final.h5")), state)
    os.unlink(tmp_path / "d" / "final.h5.history")
    line = one_line_error(_cli("info", tmp_path / "d" / "final.h5"))
    assert "final.h5.history" in line


def test_missing_or_corrupted_companion_is_one_line(tmp_path, inline_limit):
    out = str(tmp_path / "ck.h5")
    save(_state(300), out)
    data = bytearray(open(out + ".history", "rb").read())
    data[100] ^= 4
    open(out + ".history", "wb").write(bytes(data))
    with pytest.raises(Exception, match="fails its checksum"):
        load_state(out)
    os.unlink(out + ".history")
    line = one_line_error(_cli("info", out))
    assert "ck.h5.history is missing" in line


def test_save_writes_only_the_new_records(tmp_path, inline_limit, monkeypatch):
    """Checkpoint cost independent of run length: after the first save, a save writes the
    companion records added since the last one, and an image that does not grow."""
    out = str(tmp_path / "ck.h5")
    state = _state(200)
    save(state, out)
    size = os.path.getsize(out)
    written = []
    real_pwrite = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda fd, d, off: written.append(len(d))
                        or real_pwrite(fd, d, off))
    state.config.max_updates = 260
    corpus = read_corpus(None)
    train(state, corpus)
    save(state, out)
    assert sum(written) == 16 * 60
    assert os.path.getsize(out) < size + 2000          # samples only, no history inside


def _write_v1(f, state):
    """The version-1 layout (history and sample texts inside), as fastrnn <= 0.x wrote it."""
    f.attrs.update(format="fastrnn-checkpoint", format_version=1, fastrnn_version="old",
                   config=json.dumps({k: v for k, v in state.config.as_dict().items()
                                      if k != "keep_newlines"}),
                   corpus_name=state.corpus_name, corpus_chars=state.corpus_chars,
                   vocab=json.dumps(state.vocab))
    for group, arrays in (("params", state.params), ("optimizer", state.mem),
                          ("best", state.best)):
        for k in PARAM_NAMES:
            f.create_dataset(f"{group}/{k}", data=arrays.course()[k])
    f.create_dataset("best/hprev", data=state.best_hprev)
    f["best"].attrs.update(update=state.best_update, smooth_loss=state.best_smooth,
                           x0=state.best_x0)
    f.create_dataset("state/hprev", data=state.hprev)
    f["state"].attrs.update(update=state.update, epoch=state.epoch, chunk=state.chunk,
                            smooth_loss=state.smooth_loss, wall_time=state.wall_time,
                            next_x0=state.next_x0, rng_state=json.dumps(state.rng_state))
    f.create_dataset("history/loss", data=state.loss_history[:state.update])
    f.create_dataset("history/smooth_loss", data=state.smooth_history[:state.update])
    f.create_dataset("history/val_update", data=np.zeros(0, np.int64))
    f.create_dataset("history/val_loss", data=np.zeros(0))
    f.create_dataset("samples/update", data=np.array([s[0] for s in state.samples], np.int64))
    f.create_dataset("samples/smooth_loss", data=np.array([s[1] for s in state.samples]))
    f.create_dataset("samples/text", data=[s[2] for s in state.samples],
                     dtype=h5py.string_dtype("utf-8"))


def test_version_1_checkpoints_load_and_resume_exactly(tmp_path):
    state = _state(120)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _write_v1(f, state)
    (tmp_path / "v1.h5").write_bytes(buf.getvalue())
    old = load_state(str(tmp_path / "v1.h5"))
    assert old.config.keep_newlines is True          # how version-1 runs read their text
    # (the built-in text has no CR, so both readings give the same text: the run is re-based
    # on the other setting, which train() otherwise refuses as an edit of its text reading)
    old.config.keep_newlines = False
    old.fixed = fixed_fields(old.config)
    assert_same_state(old, state)
    corpus = read_corpus(None)
    for s in (old, state):
        s.config.max_updates = 200
        train(s, corpus)
    assert_same_state(old, state)


def test_a_new_run_leaves_the_companion_of_a_renamed_checkpoint_alone(tmp_path, inline_limit,
                                                                       small_text):
    """run.h5 renamed to keep.h5 without its run.h5.history (keep.h5 still reads it): a new
    run to the free name run.h5 deleted that file (or, running long, replaced it)."""
    state = _state(300)
    save(state, str(tmp_path / "run.h5"))
    os.rename(tmp_path / "run.h5", tmp_path / "keep.h5")
    line = one_line_error(_cli("train", small_text, "-o", tmp_path / "run.h5", "--hidden", 4,
                               "--max-updates", 30, "-q"))
    assert "run.h5.history exists without" in line
    save(_state(30), str(tmp_path / "run.h5"))           # the library: a short run beside it
    assert_same_state(load_state(str(tmp_path / "keep.h5")), state)
