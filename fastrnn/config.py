"""Defaults of every fastrnn command, as dataclasses: the single source of CLI defaults.

Each field is one hyper-parameter with a comment; `asdict(config)` is stored in every
checkpoint, so a checkpoint says exactly how it was made. The algorithm and its defaults
follow DD2424 Assignment 4 / min-char-rnn (see DESIGN.md section 1).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# Numba fastmath flags for the kernels. Only reassociation (lets reductions vectorise) and
# FMA contraction: both change results by a few ulp at most. 'nnan'/'ninf' are never used,
# because the divergence guard relies on NaN and inf propagating.
FASTMATH = frozenset({"reassoc", "contract"})

DTYPES = ("float64", "float32")


@dataclass
class TrainConfig:
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
    unescape_html: bool = False  # JSON records: decode HTML entities (&amp; -> &) in the text
    # derived, not a choice: mean characters predicted per update (seq_length, or fewer when
    # per-record chunks end early); per-character losses divide by it. 0: unknown (seq_length)
    chars_per_update: float = 0.0

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a stored dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SampleConfig:
    """Options of `fastrnn sample`."""

    n: int = 1000                # characters to synthesise
    temperature: float = 1.0     # divides the logits; 0 means argmax (greedy)
    top_p: float = 1.0           # nucleus sampling: keep the smallest set with mass >= top_p
    seed: int | None = None      # None: fresh randomness each call


@dataclass
class GradcheckConfig:
    """Options of `fastrnn gradcheck` (DESIGN.md: central differences, float64)."""

    hidden: int = 5              # m of the small model checked
    seq_length: int = 25         # tau of the chunk checked
    step: float = 1e-4           # h of the central difference
    threshold: float = 1e-6      # fail if any parameter's max relative error exceeds this
    eps: float = 1e-6            # floor of the relative-error denominator
    sig: float = 0.01            # init std of the checked model
    seed: int = 0                # init and chunk choice


@dataclass
class PlotConfig:
    """Options of `fastrnn plot` (and the plot of `fastrnn report`)."""

    width: int = 1200            # image width in pixels
    height: int = 675            # image height in pixels
    dpi: int = 100               # dots per inch (text size relative to the image)
    log_y: bool = False          # logarithmic loss axis (for runs that overfit to ~0)


@dataclass
class ReportConfig:
    """Options of `fastrnn report`."""

    sample_length: int = 1000    # characters drawn from the best model
    seed: int = 0                # seed of that sample, so that the report is reproducible
    temperature: float = 1.0     # temperature of that sample
    gradcheck_hidden: int = 5    # m of the gradient check (the course's m = 5)
    evolution_every: int = 0       # text evolution: samples at multiples of N (0: all logged)
    evolution_until: int = 100000  # ... up to this update (the assignment's: first 100,000)
