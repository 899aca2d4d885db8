"""Defaults of every fastrnn command, as dataclasses, and the one place they are validated.

Each field is one hyper-parameter with a comment; `asdict(config)` is stored in every
checkpoint, so a checkpoint says exactly how it was made. The algorithm and its defaults
follow DD2424 Assignment 4 / min-char-rnn (docs/algorithm.md).

Every config checks itself on construction (`__post_init__`), against a table of rules, one
per field (RULES below): the CLI, the Python API and a checkpoint's stored config all go
through the same checks, and an error names the command-line option (`--seq-length must be
>= 1, got 0`). A new field needs a new row in its class' table; a test fails otherwise.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .errors import FastrnnError

# Numba fastmath flags for the kernels. Only reassociation (lets reductions vectorise) and
# FMA contraction: both change results by a few ulp at most. 'nnan'/'ninf' are never used,
# because the divergence guard relies on NaN and inf propagating.
FASTMATH = frozenset({"reassoc", "contract"})

DTYPES = ("float64", "float32")
CELLS = ("rnn", "lstm", "gru")
OPTIMIZERS = ("adagrad", "rmsprop", "adam")
# eta when --eta is not given: DD2424's 0.1 for AdaGrad; char-rnn's 2e-3 for RMSprop, and the
# customary 2e-3 for Adam (0.1 makes both diverge at once)
DEFAULT_ETA = {"adagrad": 0.1, "rmsprop": 2e-3, "adam": 2e-3}
# numpy seeds must be non-negative; the upper bound keeps a seed storable as an HDF5 int64
SEED_MAX = 2**63 - 1


class ConfigError(FastrnnError):
    """A config value out of range; `option` is the field's command-line name."""

    def __init__(self, message: str, option: str):
        super().__init__(message)
        self.option = option


# ----------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Int:
    """An integer (bool is not one) in [lo, hi]."""

    lo: int | None = None
    hi: int | None = None
    hint: str = ""

    def check(self, value, name: str):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} must be an integer, got {value!r}"
        if self.lo is not None and value < self.lo:
            return f"{name} must be >= {self.lo}{self.hint}, got {value}"
        if self.hi is not None and value > self.hi:
            return f"{name} must be <= {self.hi}{self.hint}, got {value}"
        return None


@dataclass(frozen=True)
class Real:
    """A finite number (NaN and inf never pass) in the interval lo..hi, open where told."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    hint: str = ""

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}" \
                   f"{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return ""

    def check(self, value, name: str):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name} must be a number, got {value!r}"
        value = float(value)
        finite = math.isfinite(value)
        bad = not finite
        if self.lo is not None:
            bad |= value <= self.lo if self.lo_open else value < self.lo
        if self.hi is not None:
            bad |= value >= self.hi if self.hi_open else value > self.hi
        if bad:
            what = " ".join(p for p in ("" if finite else "a finite number", self.describe()) if p)
            return f"{name} must be {what}{self.hint}, got {value!r}"
        return None


@dataclass(frozen=True)
class Choice:
    options: tuple

    def check(self, value, name: str):
        if value not in self.options:
            return f"{name} must be one of {', '.join(map(str, self.options))}, got {value!r}"
        return None


@dataclass(frozen=True)
class Bool:
    def check(self, value, name: str):
        return None if isinstance(value, bool) else f"{name} must be true or false, got {value!r}"


@dataclass(frozen=True)
class Text:
    def check(self, value, name: str):
        return None if isinstance(value, str) else f"{name} must be a string, got {value!r}"


@dataclass(frozen=True)
class Optional:
    """None, or a value that passes `rule`."""

    rule: object

    def check(self, value, name: str):
        return None if value is None else self.rule.check(value, name)


def option_name(field_name: str) -> str:
    """The command-line spelling of a field: seq_length -> --seq-length."""
    return "-n" if field_name == "n" else "--" + field_name.replace("_", "-")


class _Validated:
    """Mixin: __post_init__ checks every field against the class' RULES table."""

    RULES: dict = {}

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value).__module__ == "numpy" and hasattr(value, "item") and \
                    getattr(value, "ndim", None) == 0:
                # np.int64(20), np.float32(0.1) (a library user's values): their Python value
                # (without importing numpy here: config loads before anything heavy)
                object.__setattr__(self, f.name, value.item())
            rule = self.RULES.get(f.name)
            if rule is None:          # a field added without a rule: a programming error
                raise TypeError(f"{type(self).__name__}.{f.name} has no validation rule")
            problem = rule.check(getattr(self, f.name), option_name(f.name))
            if problem:
                raise ConfigError(problem, option_name(f.name))

    @classmethod
    def from_dict(cls, data: dict, legacy: dict | None = None):
        """Build (and validate) from a stored dict, ignoring keys this version does not know;
        `legacy` gives the values of keys that older versions did not store."""
        if not isinstance(data, dict):
            raise FastrnnError(f"the stored config is not a JSON object (got "
                               f"{type(data).__name__})")
        known = {f.name for f in fields(cls)}
        merged = {**(legacy or {}), **data}
        return cls(**{k: v for k, v in merged.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)


FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_OVERFLOW = 3.4028235677973366e38     # FLT_MAX + half an ulp: rounds to inf from here
FLOAT32_TINY = 1.1754943508222875e-38        # the smallest normal float32
FLOAT64_MAX = 1.7976931348623157e308
SIGMA_ROOM = 64.0                            # |N(0, 1)| draws of a model stay far below it


# ------------------------------------------------------------------------------------ train
@dataclass
class TrainConfig(_Validated):
    """Hyper-parameters of one training run."""

    hidden: int = 100            # m, hidden units
    seq_length: int = 25         # tau, characters per chunk (one update per chunk)
    eta: float = 0.1             # AdaGrad learning rate
    eps: float = 1e-8            # AdaGrad epsilon inside the square root
    sig: float = 0.01            # std of the N(0, sig^2) initial U, W, V
    clip: float = 5.0            # every gradient element is clipped to [-clip, clip]
    epochs: int = 2              # passes over the text (stops early at max_updates)
    max_updates: int = 0         # stop after this many updates in total (0 = no limit)
    seed: int = 0                # seeds the initial weights and the sampling RNG
    dtype: str = "float64"       # float64 (exact, default) or float32 (about 2x faster)
    sample_every: int = 10000    # print a sample every N updates (and at update 0); 0 = never
    sample_length: int = 200     # characters per progress sample
    checkpoint_every: int = 10000  # write the checkpoint every N updates (and at the end)
    val_frac: float = 0.0        # hold out this final fraction of the text for validation
    eval_every: int = 10000      # validation loss every N updates (when val_frac > 0)
    reset_per_record: bool = False  # JSON records: reset hprev at each record (else joined)
    record_separator: str = "\n"  # joins JSON records when not reset per record
    keep_newlines: bool = False  # keep \r and \r\n as they are (default: both become \n)
    unescape_html: bool = False  # JSON records: decode HTML entities (&amp; -> &) in the text
    # derived, not a choice: mean characters predicted per update (seq_length, or fewer when
    # per-record chunks end early); per-character losses divide by it. 0: unknown (seq_length)
    chars_per_update: float = 0.0
    # beyond the course (docs/models.md); the defaults are DD2424's algorithm exactly
    cell: str = "rnn"            # rnn (vanilla tanh), lstm or gru
    layers: int = 1              # stacked layers; layer l's h is layer l+1's input
    batch: int = 1               # parallel streams (char-rnn minibatch): the text cut in strips
    optimizer: str = "adagrad"   # adagrad, rmsprop (char-rnn's) or adam (torch's)
    dropout: float = 0.0         # dropout on the inputs of layers >= 2 and of the output layer
    alpha: float = 0.95          # RMSprop's decay of the squared-gradient average
    beta1: float = 0.9           # Adam's first-moment decay
    beta2: float = 0.999         # Adam's second-moment decay
    eta_decay: float = 1.0       # multiply eta by this at each epoch end from decay_after on
    decay_after: int = 1         # first epoch whose end decays eta (char-rnn's decay_after)

    RULES = {
        "hidden": Int(1), "seq_length": Int(1), "eta": Real(0, lo_open=True),
        "eps": Real(0, lo_open=True), "sig": Real(0, lo_open=True),
        "clip": Real(0, lo_open=True), "epochs": Int(1), "max_updates": Int(0),
        "seed": Int(0, SEED_MAX), "dtype": Choice(DTYPES), "sample_every": Int(0),
        "sample_length": Int(0), "checkpoint_every": Int(0),
        "val_frac": Real(0, 1, hi_open=True), "eval_every": Int(1),
        "reset_per_record": Bool(), "record_separator": Text(), "keep_newlines": Bool(),
        "unescape_html": Bool(), "chars_per_update": Real(0),
        "cell": Choice(CELLS), "layers": Int(1, 16), "batch": Int(1, 100_000),
        "optimizer": Choice(OPTIMIZERS), "dropout": Real(0, 1, hi_open=True),
        "alpha": Real(0, 1, lo_open=True, hi_open=True),
        "beta1": Real(0, 1, hi_open=True), "beta2": Real(0, 1, hi_open=True),
        "eta_decay": Real(0, 1, lo_open=True), "decay_after": Int(1),
    }
    # what checkpoints written before a field existed did (their text was read that way)
    LEGACY = {"keep_newlines": True}
    # options that only plan the run; any other hyper-parameter is fixed by a resumed run
    RESUMABLE = ("epochs", "max_updates", "sample_every", "sample_length",
                 "checkpoint_every", "eval_every")
    # the optimizer's hyper-parameters: a resumed run may change them (a DD2424 report trains
    # 8 epochs, then 5 more at a lower eta); the change is recorded in the run's history.
    # Never the model's shape, the text or the optimizer itself (its moments would not fit).
    TUNABLE = ("eta", "eps", "clip", "alpha", "beta1", "beta2", "eta_decay", "decay_after",
               "dropout")

    @classmethod
    def from_dict(cls, data: dict, legacy: dict | None = None) -> "TrainConfig":
        return super().from_dict(data, cls.LEGACY if legacy is None else legacy)

    def validate(self) -> None:
        super().validate()
        # the weights are sig times N(0, 1) draws, a few sigma at most: beyond the dtype's
        # range they are inf and the first loss is not finite
        top = (FLOAT32_MAX if self.dtype == "float32" else FLOAT64_MAX) / SIGMA_ROOM
        if self.sig > top:
            raise ConfigError(f"--sig {self.sig:g} draws initial weights beyond {self.dtype}'s "
                              f"range (--sig at most {top:.3g})", "--sig")
        if self.dtype == "float32":       # the kernels get them cast to float32: inf beyond
            for name in ("eta", "eps", "sig", "clip"):
                value = getattr(self, name)
                if value >= FLOAT32_OVERFLOW:
                    raise ConfigError(f"{option_name(name)} {value:.9g} is beyond float32's "
                                      f"range (at most {FLOAT32_MAX:.9g}); use --dtype "
                                      "float64 or a smaller value", option_name(name))
                if 0 < value < FLOAT32_TINY:       # 0, or a few bits, in float32
                    raise ConfigError(f"{option_name(name)} {value:g} is below float32's "
                                      f"smallest normal number ({FLOAT32_TINY:.4g}): as a "
                                      "float32 it is 0 or nearly so; use --dtype float64 or a "
                                      "larger value", option_name(name))


def eta_at(cfg: TrainConfig, epochs_done: int) -> float:
    """The learning rate after `epochs_done` completed epochs: eta times eta_decay for every
    epoch end from epoch decay_after on (char-rnn's learning_rate_decay schedule)."""
    return cfg.eta * cfg.eta_decay ** max(0, epochs_done - cfg.decay_after + 1)


# Options that only one optimizer or cell, or another option, makes read: (applies?, what it
# is, what the run uses). Given where they do nothing, they are refused: `--optimizer adagrad
# --beta1 0.8` looks like a tuned Adam run and would silently be plain AdaGrad.
def _optimizer_hint(wanted: str):
    # a resumed run keeps its optimizer (its moments would not fit another), so the advice
    # to add --optimizer is for a new run only
    return lambda c, resumed: (f"the run's optimizer is {c.optimizer}"
                               + (", which --resume keeps" if resumed
                                  else f" (add --optimizer {wanted})"))


_APPLIES = {
    "alpha": (lambda c: c.optimizer == "rmsprop", "RMSprop's decay", _optimizer_hint("rmsprop")),
    "beta1": (lambda c: c.optimizer == "adam", "Adam's first-moment decay",
              _optimizer_hint("adam")),
    "beta2": (lambda c: c.optimizer == "adam", "Adam's second-moment decay",
              _optimizer_hint("adam")),
    "eval_every": (lambda c: c.val_frac > 0, "how often the held-out text is scored",
                   lambda c, resumed: "no text is held out" + (
                       " in this run (--val-frac is fixed on --resume)" if resumed
                       else " (add --val-frac, e.g. --val-frac 0.1)")),
    "decay_after": (lambda c: c.eta_decay != 1.0, "when eta's decay starts",
                    lambda c, resumed: "eta does not decay (add --eta-decay, e.g. 0.97)"),
    "record_separator": (lambda c: not c.reset_per_record, "what joins JSON records into one "
                         "text", lambda c, resumed: "with --reset-per-record each record is "
                         "its own document, between end-of-record symbols"),
    "sig": (lambda c: c.cell == "rnn", "the vanilla RNN's initial weight std",
            lambda c, resumed: f"{c.cell.upper()} weights are drawn U(-1/sqrt(m), 1/sqrt(m)) "
                               "as PyTorch draws them (docs/models.md)"),
}


# the fields the rules above read of a config (sweep.best_command builds a trial's from them)
APPLIES_READS = ("cell", "optimizer", "val_frac", "eta_decay", "reset_per_record")


def inapplicable(cfg: TrainConfig, names, resumed: bool = False) -> str | None:
    """The error for the first option in `names` that cfg's optimizer or cell never reads,
    or None when every one of them takes effect. `resumed`: cfg is a resumed run's."""
    for name in names:
        rule = _APPLIES.get(name)
        if rule is not None and not rule[0](cfg):
            return (f"{option_name(name)} is {rule[1]} and does nothing here: "
                    f"{rule[2](cfg, resumed)}")
    return None


def course_algorithm(cfg: TrainConfig) -> bool:
    """True for DD2424's exact algorithm (vanilla cell, one layer, one stream, AdaGrad, no
    dropout), which the course engine (fastrnn.train) runs; anything else needs the general
    engine (fastrnn.nettrain). The two store their parameters differently, so a checkpoint's
    config must keep naming the engine that wrote it."""
    return (cfg.cell == "rnn" and cfg.layers == 1 and cfg.batch == 1
            and cfg.optimizer == "adagrad" and cfg.dropout == 0.0)


def merge_resumed(stored: TrainConfig, given: dict, done_updates: int,
                  source: str = "checkpoint", changes: list | None = None) -> TrainConfig:
    """The config of a resumed run: `stored` with the command line's `given` options (only
    those the user typed). Planning options may change; any other must equal the stored
    value. A --max-updates below the updates already done would rewrite the finished part of
    the plan: refused."""
    merged = stored.as_dict()
    for name, value in given.items():
        if name in TrainConfig.RESUMABLE:
            if name == "eval_every" and changes is not None and merged.get(name) != value:
                # recorded: the validations before the change followed the old schedule
                # (train() keeps the one at the resume point: runstate.eval_every_at)
                changes.append((done_updates, name, merged.get(name), value))
            merged[name] = value
        elif name in TrainConfig.TUNABLE and merged.get(name) != value:
            if changes is not None:
                changes.append((done_updates, name, merged.get(name), value))
            merged[name] = value
        elif merged.get(name) != value:
            raise FastrnnError(f"{option_name(name)} cannot change on --resume "
                               f"({source} has {merged.get(name)})")
    cfg = TrainConfig.from_dict(merged, legacy={})
    if course_algorithm(cfg) != course_algorithm(stored):
        # dropout is the one tunable option the engine depends on: switching engines midway
        # would train on in the old one and save a config that names the other
        raise FastrnnError(
            f"--dropout cannot change from {stored.dropout:g} to {cfg.dropout:g} on --resume "
            "of this run: a vanilla RNN with one layer, one stream and AdaGrad "
            + ("has dropout only " if stored.dropout == 0.0 else "loses dropout only ")
            + "by starting a new run (the course's algorithm and the general engine store "
            "their checkpoints differently; docs/models.md)")
    if 0 < cfg.max_updates < done_updates:
        raise FastrnnError(f"--max-updates {cfg.max_updates:,} is below the {done_updates:,} "
                           f"updates the {source} has done (it counts from the start of the "
                           "run); give a larger total")
    return cfg


def memory_estimate(vocab_size: int, hidden: int, seq_length: int, dtype: str) -> int:
    """Bytes a training run allocates for its arrays: the parameters, their AdaGrad state and
    best copy, the kernels' aligned copies of all three, the gradients and the workspace."""
    item = 4 if dtype == "float32" else 8
    per_set = 2 * hidden * vocab_size + hidden * hidden + hidden + vocab_size
    workspace = seq_length * (3 * hidden + vocab_size) + hidden
    return item * (8 * per_set + workspace)


def available_memory() -> int | None:
    """Bytes of memory this process could get (MemAvailable on Linux, else physical)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return ""


def check_memory(vocab_size: int, cfg: TrainConfig, available: int | None = None) -> None:
    """Refuse, before allocating anything, a model that cannot fit in memory."""
    need = memory_estimate(vocab_size, cfg.hidden, cfg.seq_length, cfg.dtype)
    have = available_memory() if available is None else available
    if have is not None and need > have:
        raise FastrnnError(f"--hidden {cfg.hidden:,} needs about {_size(need)} of memory "
                           f"(K={vocab_size}, {cfg.dtype}); this machine has {_size(have)} "
                           "available")


# ----------------------------------------------------------------------------------- sample
@dataclass
class SampleConfig(_Validated):
    """Options of `fastrnn sample`."""

    n: int = 1000                # characters to synthesise
    temperature: float = 1.0     # divides the logits; 0 means argmax (greedy)
    top_p: float = 1.0           # nucleus sampling: keep the smallest set with mass >= top_p
    seed: int | None = None      # None: fresh randomness each call

    RULES = {"n": Int(0), "temperature": Real(0, hint=" (0 = argmax)"),
             "top_p": Real(0, 1, lo_open=True), "seed": Optional(Int(0, SEED_MAX))}


@dataclass
class GradcheckConfig(_Validated):
    """Options of `fastrnn gradcheck` (docs/algorithm.md: central differences, float64)."""

    hidden: int = 5              # m of the small model checked
    seq_length: int = 25         # tau of the chunk checked
    step: float = 1e-4           # h of the central difference
    threshold: float = 1e-6      # fail if any parameter's max relative error exceeds this
    eps: float = 1e-6            # floor of the relative-error denominator
    sig: float = 0.01            # init std of the checked model
    seed: int = 0                # init and chunk choice
    # h0 = tanh of N(0, 1) draws instead of the course's 0: with it (and a larger sig) the
    # check reaches the carried state and the gradient's path back through the whole chunk,
    # which from h0 = 0 and 0.01 weights shrinks ~30x per step
    random_state: bool = False

    RULES = {"hidden": Int(1), "seq_length": Int(1), "step": Real(0, lo_open=True),
             "threshold": Real(0, lo_open=True), "eps": Real(0, lo_open=True),
             "sig": Real(0, lo_open=True), "seed": Int(0, SEED_MAX), "random_state": Bool()}


@dataclass
class PlotConfig(_Validated):
    """Options of `fastrnn plot` (and the plot of `fastrnn report`)."""

    width: int = 1200            # image width in pixels
    height: int = 675            # image height in pixels
    dpi: int = 100               # dots per inch (text size relative to the image)
    log_y: bool = False          # logarithmic loss axis (for runs that overfit to ~0)

    RULES = {"width": Int(200, 20000), "height": Int(150, 20000), "dpi": Int(20, 1000),
             "log_y": Bool()}


@dataclass
class ReportConfig(_Validated):
    """Options of `fastrnn report`."""

    sample_length: int = 1000    # characters drawn from the best model
    seed: int = 0                # seed of that sample, so that the report is reproducible
    temperature: float = 1.0     # temperature of that sample
    gradcheck_hidden: int = 5    # m of the gradient check (the course's m = 5)
    evolution_every: int = 0       # text evolution: samples at multiples of N (0: all logged)
    evolution_until: int = 100000  # ... up to this update (the assignment's: first 100,000)

    RULES = {"sample_length": Int(1), "seed": Int(0, SEED_MAX),
             "temperature": Real(0, hint=" (0 = argmax)"), "gradcheck_hidden": Int(1),
             "evolution_every": Int(0), "evolution_until": Int(0)}
