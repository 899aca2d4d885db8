"""Part A of the robustness work: every config validates itself, once, in the library.

TrainConfig/SampleConfig/GradcheckConfig reject out-of-range, NaN and infinite values with
a message naming the command-line option; the CLI, the Python API and a checkpoint's stored
config all go through the same table of rules; the resume-merge policy lives in config.py.
"""
from __future__ import annotations

import math
from dataclasses import fields

import pytest

from fastrnn.config import (GradcheckConfig, PlotConfig, ReportConfig, SampleConfig,
                            TrainConfig, check_memory, memory_estimate, merge_resumed)
from fastrnn.data import builtin_text
from fastrnn.errors import FastrnnError

from .clitools import invoke, one_line_error


@pytest.mark.parametrize("cls", [TrainConfig, SampleConfig, GradcheckConfig, PlotConfig,
                                 ReportConfig])
def test_every_field_has_a_rule_and_the_defaults_pass(cls):
    cls()                                      # defaults are valid
    assert {f.name for f in fields(cls)} == set(cls.RULES)


@pytest.mark.parametrize("kw, message", [
    (dict(seq_length=0), "--seq-length must be >= 1, got 0"),
    (dict(eval_every=0), "--eval-every must be >= 1, got 0"),
    (dict(hidden=0), "--hidden must be >= 1, got 0"),
    (dict(eta=math.nan), "--eta must be a finite number > 0, got nan"),
    (dict(eta=math.inf), "--eta must be a finite number > 0, got inf"),
    (dict(sig=math.inf), "--sig must be a finite number > 0, got inf"),
    (dict(clip=math.nan), "--clip must be a finite number > 0, got nan"),
    (dict(val_frac=math.nan), "--val-frac must be a finite number in [0, 1), got nan"),
    (dict(seed=-1), "--seed must be >= 0, got -1"),
    (dict(dtype="int8"), "--dtype must be one of float64, float32, got 'int8'"),
    (dict(hidden="100"), "--hidden must be an integer, got '100'"),
    (dict(eta="0.1"), "--eta must be a number, got '0.1'"),
    (dict(reset_per_record=1), "--reset-per-record must be true or false, got 1"),
    (dict(eta=1e300, dtype="float32"), "--eta 1e+300 is beyond float32's range (at most "
                                       "3.40282347e+38); use --dtype float64 or a smaller "
                                       "value"),
    (dict(sig=1e308), "--sig 1e+308 draws initial weights beyond float64's range (--sig at "
                      "most 2.81e+306)"),
    (dict(eta=1e-50, dtype="float32"), "--eta 1e-50 is below float32's smallest normal number "
                                       "(1.175e-38): as a float32 it is 0 or nearly so; use "
                                       "--dtype float64 or a larger value"),
])
def test_train_config_rejects(kw, message):
    with pytest.raises(FastrnnError) as err:
        TrainConfig(**kw)
    assert str(err.value) == message


def test_float32_takes_what_it_can_hold():
    import numpy as np

    largest = float(np.finfo(np.float32).max)
    assert TrainConfig(eta=largest, dtype="float32").eta == largest
    assert np.isfinite(np.float32(3.4028235e38))
    TrainConfig(eta=3.4028235e38, dtype="float32")


def test_sample_and_gradcheck_configs_reject():
    with pytest.raises(FastrnnError, match=r"^--seed must be >= 0, got -1$"):
        SampleConfig(seed=-1)
    with pytest.raises(FastrnnError, match=r"^--top-p must be in \(0, 1\], got nan$|finite"):
        SampleConfig(top_p=math.nan)
    with pytest.raises(FastrnnError, match=r"^--step must be a finite number > 0, got inf$"):
        GradcheckConfig(step=math.inf)
    with pytest.raises(FastrnnError, match=r"^--seed must be >= 0, got -1$"):
        GradcheckConfig(seed=-1)


def test_stored_config_is_validated_and_must_be_an_object():
    with pytest.raises(FastrnnError, match="--seq-length must be >= 1, got 0"):
        TrainConfig.from_dict({"seq_length": 0})
    with pytest.raises(FastrnnError, match="not a JSON object"):
        TrainConfig.from_dict([1, 2])
    # checkpoints from before keep_newlines existed kept carriage returns
    assert TrainConfig.from_dict({}).keep_newlines is True


def test_merge_resumed_policy():
    stored = TrainConfig(hidden=8, max_updates=100)
    merged = merge_resumed(stored, {"max_updates": 300, "sample_every": 7}, 100)
    assert (merged.max_updates, merged.sample_every, merged.hidden) == (300, 7, 8)
    assert stored.max_updates == 100                       # the stored config is not mutated
    with pytest.raises(FastrnnError, match=r"^--hidden cannot change on --resume \(checkpoint "
                                           r"has 8\)$"):
        merge_resumed(stored, {"hidden": 9}, 100)
    with pytest.raises(FastrnnError, match="--max-updates 50 is below the 100 updates"):
        merge_resumed(stored, {"max_updates": 50}, 100)
    with pytest.raises(FastrnnError, match="--eval-every must be >= 1"):
        merge_resumed(stored, {"eval_every": 0}, 100)
    # dropout may change, except where it would move the run to the other engine
    assert merge_resumed(TrainConfig(cell="gru"), {"dropout": 0.2}, 100).dropout == 0.2
    assert merge_resumed(TrainConfig(batch=2, dropout=0.1), {"dropout": 0.0}, 100).dropout == 0
    with pytest.raises(FastrnnError, match=r"^--dropout cannot change from 0 to 0\.2 on "
                                           r"--resume of this run: .* has dropout only by"):
        merge_resumed(stored, {"dropout": 0.2}, 100)
    with pytest.raises(FastrnnError, match=r"^--dropout cannot change from 0\.1 to 0 on "
                                           r"--resume of this run: .* loses dropout only by"):
        merge_resumed(TrainConfig(dropout=0.1), {"dropout": 0.0}, 100)


def test_memory_estimate_refuses_a_model_that_cannot_fit():
    cfg = TrainConfig(hidden=10**6)
    need = memory_estimate(80, cfg.hidden, cfg.seq_length, cfg.dtype)
    assert need > 8 * 10**12 * 8 / 8          # at least the m x m weights, eight copies
    with pytest.raises(FastrnnError, match=r"^--hidden 1,000,000 needs about .* TB of memory "
                                           r"\(K=80, float64\); this machine has 8\.0 GB"):
        check_memory(80, cfg, available=8 * 10**9)
    check_memory(80, TrainConfig(), available=8 * 10**9)   # the default model fits


# ------------------------------------------------------------------------------ via the CLI
@pytest.fixture
def corpus_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.txt").write_text(builtin_text()[:3000], encoding="utf-8")
    return "c.txt"


_cli = invoke      # the one CLI helper (tests/clitools.py)


@pytest.mark.parametrize("option, value, message", [
    ("--val-frac", "nan", "--val-frac must be a finite number in [0, 1), got nan"),
    ("--eta", "nan", "--eta must be a finite number > 0, got nan"),
    ("--eta", "inf", "--eta must be a finite number > 0, got inf"),
    ("--clip", "nan", "--clip must be a finite number > 0, got nan"),
    ("--sig", "nan", "--sig must be a finite number > 0, got nan"),
    ("--sig", "inf", "--sig must be a finite number > 0, got inf"),
    ("--seed", "-1", "--seed must be >= 0, got -1"),
])
def test_train_rejects_before_any_work(corpus_file, tmp_path, option, value, message):
    result = _cli("train", corpus_file, "-o", "ck.h5", "--hidden", 4, "--max-updates", 3, "-q",
                  option, value)
    assert one_line_error(result) == f"Error: {message}"
    assert not (tmp_path / "ck.h5").exists()


@pytest.mark.parametrize("args, message", [
    (["--beta1", "0.8"], "--beta1 is Adam's first-moment decay and does nothing here: the "
                         "run's optimizer is adagrad (add --optimizer adam)"),
    (["--optimizer", "rmsprop", "--beta2", "0.99"], "--beta2 is Adam's second-moment decay and "
     "does nothing here: the run's optimizer is rmsprop (add --optimizer adam)"),
    (["--optimizer", "adam", "--alpha", "0.9"], "--alpha is RMSprop's decay and does nothing "
     "here: the run's optimizer is adam (add --optimizer rmsprop)"),
    (["--eval-every", "500"], "--eval-every is how often the held-out text is scored and "
     "does nothing here: no text is held out (add --val-frac, e.g. --val-frac 0.1)"),
    (["--decay-after", "3"], "--decay-after is when eta's decay starts and does nothing here: "
     "eta does not decay (add --eta-decay, e.g. 0.97)"),
    (["--cell", "lstm", "--sig", "0.1"], "--sig is the vanilla RNN's initial weight std and "
     "does nothing here: LSTM weights are drawn U(-1/sqrt(m), 1/sqrt(m)) as PyTorch draws "
     "them (docs/models.md)"),
])
def test_an_option_the_run_never_reads_is_refused(corpus_file, tmp_path, args, message):
    result = _cli("train", corpus_file, "-o", "ck.h5", "--hidden", 4, "--max-updates", 3, "-q",
                  *args)
    assert one_line_error(result) == f"Error: {message}"
    assert not (tmp_path / "ck.h5").exists()


def test_options_that_apply_are_accepted_and_so_are_defaults_typed_out(corpus_file, tmp_path):
    for i, args in enumerate([["--optimizer", "adam", "--beta1", "0.8", "--beta2", "0.99"],
                              ["--optimizer", "rmsprop", "--alpha", "0.9"],
                              ["--sig", "0.05"], ["--cell", "gru", "--layers", "2"],
                              ["--val-frac", "0.2", "--eval-every", "2"],
                              ["--eta-decay", "0.9", "--decay-after", "2"]]):
        result = _cli("train", corpus_file, "-o", f"ck{i}.h5", "--hidden", 4, "--max-updates",
                      3, "-q", *args)
        assert result.exit_code == 0, (args, result.output)
    # on --resume the checkpoint's optimizer decides: rmsprop's alpha may change, beta1 not
    ok = _cli("train", corpus_file, "--resume", "ck1.h5", "--max-updates", 5, "-q", "--alpha",
              "0.8")
    assert ok.exit_code == 0, ok.output
    before = (tmp_path / "ck1.h5").read_bytes()
    refused = _cli("train", corpus_file, "--resume", "ck1.h5", "--max-updates", 7, "-q",
                   "--beta1", "0.5")
    assert one_line_error(refused) == ("Error: --beta1 is Adam's first-moment decay and does "
                                       "nothing here: the run's optimizer is rmsprop, which "
                                       "--resume keeps")
    assert (tmp_path / "ck1.h5").read_bytes() == before


def test_huge_hidden_is_refused_with_the_estimate(corpus_file, tmp_path):
    result = _cli("train", corpus_file, "-o", "ck.h5", "--hidden", 10**7, "-q")
    line = one_line_error(result)
    assert line.startswith("Error: --hidden 10,000,000 needs about ") and "of memory" in line
    assert not (tmp_path / "ck.h5").exists()


def test_seed_minus_one_in_every_command(corpus_file, tmp_path):
    assert _cli("train", corpus_file, "-o", "ck.h5", "--hidden", 4, "--max-updates", 3,
                "-q").exit_code == 0
    for args in (["sample", "ck.h5", "--seed", -1], ["gradcheck", corpus_file, "--seed", -1],
                 ["report", "ck.h5", corpus_file, "-o", "rep", "--seed", -1]):
        assert one_line_error(_cli(*args)) == "Error: --seed must be >= 0, got -1", args
    assert not (tmp_path / "rep").exists()                 # no partial report, no PNG


def test_resume_with_max_updates_below_the_checkpoint_is_refused(corpus_file, tmp_path):
    assert _cli("train", corpus_file, "-o", "ck.h5", "--hidden", 4, "--max-updates", 40,
                "-q").exit_code == 0
    before = (tmp_path / "ck.h5").read_bytes()
    line = one_line_error(_cli("train", corpus_file, "--resume", "ck.h5", "--max-updates", 10,
                               "-q"))
    assert line.startswith("Error: --max-updates 10 is below the 40 updates the checkpoint "
                           "has done")
    assert (tmp_path / "ck.h5").read_bytes() == before


def test_applies_reads_names_every_field_the_rules_read():
    """sweep.best_command rebuilds a trial's config from config.APPLIES_READS alone."""
    from fastrnn.config import _APPLIES, APPLIES_READS

    read = {name for applies, _, _ in _APPLIES.values() for name in applies.__code__.co_names}
    assert read == set(APPLIES_READS)
