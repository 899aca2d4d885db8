"""What every training engine shares: the run's state, its callbacks and the loop's rules.

fastrnn.train (the DD2424 kernels) and fastrnn.nettrain (the general engine) both run a loop of
compiled blocks between events; both keep their run in a TrainState (nettrain's NetState adds
the network), report through a Callbacks object, size their blocks, grow their loss histories,
guard against divergence and make up a validation a checkpoint did not wait for the same way.
Those shared pieces live here, below both loops, so neither imports the other's module.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import TrainConfig, eta_at
from .errors import FastrnnError
from .model import Params

PROGRESS_EVERY = 500     # updates per compiled block at most: keeps Ctrl-C and progress prompt
# Wall time a compiled block aims at: a signal is only seen between blocks, so this bounds how
# long Ctrl-C waits (a fixed count of updates took minutes at m = 4096). The first block is one
# update, which times the rest.
BLOCK_SECONDS = 0.25
# Divergence guard: training stops when a chunk's loss is NaN or inf, or when the smooth loss
# exceeds DIVERGE_FACTOR x the initial loss. The smooth loss is an exponential average over
# ~1000 updates, so only a sustained rise trips it ("for a while": e.g. ~250 updates at 10x the
# initial loss, ~20 at 100x). The initial loss is the first chunk's, but at least that of a
# uniform guess over a full chunk (seq_length ln K), so a short first chunk (per-record
# training) cannot make the threshold tiny. Checked after every block of updates, so the
# update it names is at most PROGRESS_EVERY past the one where the rule first held.
DIVERGE_FACTOR = 3.0


class DivergenceError(FastrnnError):
    """The loss became non-finite or ran away; the message names the update."""

    def __init__(self, message: str, update: int):
        super().__init__(message)
        self.update = update


@dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped."""

    config: TrainConfig
    vocab: str
    corpus_name: str
    corpus_chars: int
    params: Params                  # in the kernels' layout (U stored as (K, m))
    mem: Params                     # AdaGrad accumulators G, one per parameter
    best: Params                    # parameters at the lowest smooth loss (pre-update)
    best_hprev: np.ndarray          # hidden state at the start of that update's chunk
    best_x0: int = 0                # first character of that chunk
    best_update: int = -1
    best_smooth: float = np.inf
    update: int = 0                 # updates done
    epoch: int = 0                  # epochs completed
    chunk: int = 0                  # next chunk of the epoch's schedule
    hprev: np.ndarray = None
    next_x0: int = 0                # the character that follows hprev in the text
    smooth_loss: float = np.nan
    loss_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    smooth_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    samples: list = field(default_factory=list)       # (update, smooth loss, text)
    val_history: list = field(default_factory=list)   # (update, mean val loss per char)
    rng_state: dict = None          # numpy bit generator state of the sampling RNG
    wall_time: float = 0.0          # seconds spent training, summed over resumes
    interrupted: bool = False       # the last train() call stopped on request
    changes: list = field(default_factory=list)   # (update, option, old, new) on --resume
    corpus_digest: str = ""         # Corpus.digest() of the text trained on ("": not known)
    json_field: str = ""            # the JSON records' field trained on ("": a plain text)
    # the config values the run keeps for life (fixed_fields), as it was made or loaded: a
    # library user may edit state.config; train() and save() refuse edits of these
    fixed: dict = field(default_factory=dict)

    @property
    def hidden(self) -> int:
        return self.params["W"].shape[0]


class Callbacks:
    """Override what you need; every method is a no-op here."""

    def on_start(self, state: TrainState, total_updates: int, updates_per_epoch: int): ...
    def on_progress(self, state: TrainState, chars_per_sec: float): ...
    def on_sample(self, update: int, smooth_loss: float, text: str): ...
    def on_epoch_end(self, state: TrainState): ...
    def on_eval(self, update: int, val_loss: float): ...
    def on_checkpoint(self, state: TrainState): ...
    def should_stop(self) -> bool:
        return False


def fixed_fields(cfg: TrainConfig) -> dict:
    """The config values a run keeps for its whole life: all but what --resume may change
    (TrainConfig.RESUMABLE and TUNABLE) and the derived chars_per_update."""
    free = set(TrainConfig.RESUMABLE) | set(TrainConfig.TUNABLE) | {"chars_per_update"}
    return {k: v for k, v in cfg.as_dict().items() if k not in free}


def check_state(state, doing: str) -> None:
    """Before train() or save(): a TrainState whose config (which a library user may edit)
    still passes its rules and still describes the run its arrays hold. An edit of the model,
    the reading of the text or the optimizer would train or save something its checkpoint
    could not load, or load as another run."""
    from .config import course_algorithm

    if not isinstance(state, TrainState):
        raise FastrnnError(f"{doing}: expected a training state (fastrnn.new_state or "
                           f"fastrnn.load_state), got {type(state).__name__}")
    if not isinstance(state.config, TrainConfig):
        raise FastrnnError(f"{doing}: state.config is a {type(state.config).__name__}, not a "
                           "TrainConfig")
    state.config.validate()             # fields assigned after construction
    now = fixed_fields(state.config)
    for name, made in state.fixed.items():
        if now.get(name) != made:
            raise FastrnnError(
                f"{doing}: state.config.{name} is {now.get(name)!r}, but the run was made with "
                f"{made!r}; a run keeps its model, text reading and optimizer (only "
                f"{', '.join(TrainConfig.RESUMABLE + TrainConfig.TUNABLE)} may change)")
    if course_algorithm(state.config) == (getattr(state, "net", None) is not None):
        raise FastrnnError(f"{doing}: state.config.dropout {state.config.dropout:g} would move "
                           "the run between the course's engine and the general one "
                           "(docs/models.md)")


def check_same_corpus(state: TrainState, corpus) -> None:
    """Refuse a corpus that is not the one the state trained on: another vocabulary, length,
    or (Corpus.digest) other characters. A checkpoint from before the digest was stored takes
    the corpus's, so its later saves carry it, and the records' field the text was read by
    (Corpus.json_field: --resume and eval read it again without being told). (`train
    --resume` checks first with messages about TEXT that name what differs; this is the
    library's guard for every caller.)"""
    if corpus.vocab != state.vocab or corpus.n_chars != state.corpus_chars:
        raise FastrnnError("the corpus differs from the one trained on (expected "
                           f"{state.corpus_chars:,} characters of a {len(state.vocab)}-character "
                           f"vocabulary, got {corpus.n_chars:,} of {len(corpus.vocab)})")
    digest = corpus.digest()
    if not state.corpus_digest:
        state.corpus_digest = digest
    elif digest != state.corpus_digest:
        raise FastrnnError(f"the corpus differs from the one trained on: the same "
                           f"{corpus.n_chars:,} characters long, with the same vocabulary, but "
                           "other characters")
    state.json_field = corpus.json_field


def planned_updates(per_epoch: int, cfg: TrainConfig) -> int:
    """The run's total updates: epochs x updates per epoch, capped by max_updates (both
    engines, `fastrnn train` and a sweep's trials plan with it)."""
    total = cfg.epochs * per_epoch
    return min(total, cfg.max_updates) if cfg.max_updates > 0 else total


def grow(arr: np.ndarray, size: int) -> np.ndarray:
    """arr extended with zeros to `size` entries (a loss history made room for a run)."""
    if arr.size >= size:
        return arr
    try:          # zeros: pages the run never reaches are never touched
        out = np.zeros(size, np.float64)
    except (MemoryError, ValueError):     # ValueError: more entries than an array can hold
        raise FastrnnError(
            f"the run plans {size:,} updates: its loss history alone would need "
            f"{2 * 8 * size / 2**30:,.1f} GiB, more than this machine gives; lower --epochs "
            "or set --max-updates (Ctrl-C stops a run early, with a checkpoint)") from None
    out[:arr.size] = arr
    return out


def stop_on_divergence(state: TrainState, cb: Callbacks, non_finite: bool) -> bool:
    """After a block: raise DivergenceError when the loss became non-finite (the block stopped
    before that update) or the smooth loss ran away; but an interrupt wins over divergence,
    returning True: the state is then that of the last finite update, and the caller saves
    it. Shared by the DD2424 loop and the general engine's (fastrnn.nettrain)."""
    cfg = state.config
    initial = max(state.loss_history[0], cfg.seq_length * np.log(len(state.vocab)))
    ran_away = state.smooth_loss > DIVERGE_FACTOR * initial
    if (non_finite or ran_away) and cb.should_stop():
        state.interrupted = True
        return True
    eta = f"try a smaller --eta (now {eta_at(cfg, state.epoch):g})"
    if non_finite:
        raise DivergenceError(f"training diverged at update {state.update}: the loss is not "
                              f"finite (NaN or inf); {eta}", state.update)
    if ran_away:
        raise DivergenceError(
            f"training diverged at update {state.update}: the smooth loss "
            f"{state.smooth_loss:.1f} rose above {DIVERGE_FACTOR:g}x the initial loss "
            f"{initial:.1f}; {eta}", state.update)
    return False


def next_multiple(u: int, every: int) -> int:
    """The first multiple of every strictly above u (a huge number when every is 0)."""
    return (u // every + 1) * every if every > 0 else np.iinfo(np.int64).max


def eval_every_at(state: TrainState, cfg: TrainConfig, update: int) -> int:
    """The eval_every whose schedule a validation at `update` followed: a change of it on
    --resume (recorded in state.changes at the resume's update) applies after that update."""
    every = cfg.eval_every
    for at, name, old, _ in reversed(state.changes):
        if name == "eval_every" and at >= update:
            every = int(old)
    return every


def drop_final_validation(state: TrainState, cfg: TrainConfig, total: int) -> None:
    """A run that finished its plan validated its last update even off the eval_every
    schedule; when a resumed run goes on past it, that validation is one an uninterrupted run
    would not have made: drop it (by the schedule it was made under)."""
    if state.val_history and state.val_history[-1][0] == state.update < total:
        every = eval_every_at(state, cfg, state.update)
        if every <= 0 or state.update % every != 0:
            state.val_history.pop()


def validation_missing(state: TrainState, cfg: TrainConfig) -> bool:
    """True when the state's update is an eval_every multiple whose validation is not in its
    history: a checkpoint written while that validation was still running on the other core.

    Checkpoints do not wait for the validation of their own update: eval_every and
    checkpoint_every both default to 10,000, and waiting put every held-out pass on the
    critical path (a run with validation was ~12% slower than one without). A run resumed
    from such a checkpoint evaluates that update first, from the same parameters and hidden
    state, so its history is the one an uninterrupted run records. A validation of an earlier
    update still running at a checkpoint is waited for (BackgroundValidation.before_checkpoint):
    no resumed run could make that one up."""
    every = eval_every_at(state, cfg, state.update)
    return (state.update > 0 and every > 0 and state.update % every == 0
            and not (state.val_history and state.val_history[-1][0] == state.update))
