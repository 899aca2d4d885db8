"""Hyper-parameter sweeps: many ordinary training runs scheduled on a dask.distributed cluster.

A sweep is a list of trials, each a TrainConfig and a checkpoint file named after the
hyper-parameters that vary (e.g. `eta=0.05,hidden=100,seed=0.h5`). The client reads the corpus
once and broadcasts it to every worker once; each trial then runs inside a worker process
through the library (`run_trial`), exactly as `fastrnn train` would: resumed from its
checkpoint, saved atomically every checkpoint_every updates and at the end, stopped cleanly
when the sweep's `distributed.Event` is set. Results go to `results.csv`, rewritten atomically
as trials finish, so a crash or Ctrl-C never leaves a half-written table.

Nothing here prints: the command line (fastrnn.sweep_cli) passes a `log` function.
"""
from __future__ import annotations

import csv
import itertools
import json
import math
import os
import re
import signal
import threading
import time
import typing
import uuid
from dataclasses import dataclass, fields, replace

import numpy as np

from .config import TrainConfig
from .errors import FastrnnError
from .runinfo import chars_per_update, chars_trained_per_update

RESULTS = "results.csv"
MANIFEST = "sweep.json"          # the sweep's TEXT and options, for sweep-report's command line
FAILED_SUFFIX = ".failed"        # beside a trial's checkpoint: its one-line error
MAX_RESUBMITS = 3                 # times a trial lost to the cluster is submitted again
# Options that only plan a run; any other hyper-parameter is fixed by an existing checkpoint
# (the same rule as `fastrnn train --resume`).
PLAN_FIELDS = ("epochs", "max_updates", "sample_every", "sample_length", "checkpoint_every",
               "eval_every")
# Fields that change how TEXT is read: the corpus is read once for the whole sweep.
CORPUS_FIELDS = ("reset_per_record", "record_separator", "keep_newlines", "unescape_html")
# TrainConfig fields that are not `fastrnn train` options: chars_per_update is derived from the
# corpus, eps is fixed (1e-8); a trial of them could not be re-run from its printed command
NOT_GRID_FIELDS = ("chars_per_update", "eps")
STOP_POLL = 0.2                  # seconds between two looks at the stop Event inside a trial
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


# ------------------------------------------------------------------------------ the grid
@dataclass(frozen=True)
class Range:
    """`lo:hi` of a --random sweep: sampled log-uniformly or uniformly, ints rounded."""

    lo: float
    hi: float
    scale: str          # "log" or "lin"


def field_types() -> dict[str, type]:
    """Every TrainConfig field and its Python type (config.py uses string annotations)."""
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in fields(TrainConfig)}


def field_name(key: str) -> str:
    """The TrainConfig field a --grid key names (hyphens or underscores), or a one-line error
    listing the valid keys."""
    name = key.strip().replace("-", "_")
    types = {k: v for k, v in field_types().items() if k not in NOT_GRID_FIELDS}
    if name not in types:
        raise FastrnnError(f"--grid: unknown hyper-parameter '{key}'; valid keys: "
                           + ", ".join(k for k in types if k not in CORPUS_FIELDS))
    if name in CORPUS_FIELDS:
        raise FastrnnError(f"--grid: {name} changes how TEXT is read, which happens once per "
                           "sweep; give it as an option instead")
    return name


def _plain_type(tp):
    """int for `int`, `int | None`, `Optional[int]`...; the first non-None member."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if args and typing.get_origin(tp) is not typing.Literal else tp


def convert_value(name: str, text: str):
    """A --grid value as the field's type (validation of ranges is the caller's `validate`)."""
    tp = _plain_type(field_types()[name])
    try:
        if tp is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            value = float(text)          # accepts 1e3 for 1000, refuses 2.5 below
            if not value.is_integer():
                raise ValueError
            return int(value)
        if tp is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        return tp(text.strip())
    except (TypeError, ValueError):
        raise FastrnnError(f"--grid {name}: '{text}' is not a valid "
                           f"{getattr(tp, '__name__', tp)}") from None


def parse_grid(specs, validate=None) -> dict:
    """{field: [values] or Range} from `--grid key=v1,v2` / `--grid key=lo:hi[:log|:lin]`.

    validate(name, text) -> value may check a value as `fastrnn train` would (ranges,
    choices); by default values are only converted to the field's type.
    """
    validate = validate or convert_value
    grid: dict = {}
    for spec in specs:
        key, eq, rest = spec.partition("=")
        if not eq or not key.strip() or not rest.strip():
            raise FastrnnError(f"--grid '{spec}': expected KEY=V1,V2,... or KEY=LO:HI "
                               "(e.g. --grid eta=0.05,0.1,0.2)")
        name = field_name(key)
        if name in grid:
            raise FastrnnError(f"--grid: {name} is given twice")
        if ":" in rest:
            grid[name] = _parse_range(name, spec, rest, validate)
            continue
        texts = [t.strip() for t in rest.split(",")]
        if any(not t for t in texts):
            raise FastrnnError(f"--grid '{spec}': empty value in the list")
        values = [validate(name, t) for t in texts]
        if len(set(map(repr, values))) != len(values):
            raise FastrnnError(f"--grid '{spec}': a value is repeated")
        grid[name] = values
    return grid


def _parse_range(name, spec, rest, validate) -> Range:
    parts = [p.strip() for p in rest.split(":")]
    tp = _plain_type(field_types()[name])
    if tp not in (int, float):
        raise FastrnnError(f"--grid '{spec}': ranges need a numeric hyper-parameter; "
                           f"{name} takes a list of values")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("log", "lin")):
        raise FastrnnError(f"--grid '{spec}': a range is LO:HI, LO:HI:log or LO:HI:lin")
    lo, hi = validate(name, parts[0]), validate(name, parts[1])
    if not lo < hi:
        raise FastrnnError(f"--grid '{spec}': LO must be smaller than HI")
    # floats (eta, sig, clip: scales) are drawn log-uniformly, integers (hidden, seq_length,
    # layers: a few values) uniformly, unless the range says otherwise
    scale = parts[2] if len(parts) == 3 else ("log" if tp is float and lo > 0 else "lin")
    if scale == "log" and lo <= 0:
        raise FastrnnError(f"--grid '{spec}': a log range needs LO > 0")
    return Range(lo, hi, scale)


@dataclass
class Trial:
    """One run of the sweep: the swept values (seed last), its config and checkpoint name."""

    params: dict
    config: TrainConfig

    @property
    def name(self) -> str:
        return trial_name(self.params)


def format_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)            # shortest round trip: 0.05, 1e-05
    return NAME_UNSAFE.sub("_", str(value))


def trial_name(params: dict) -> str:
    """`eta=0.05,hidden=100,seed=0`: the checkpoint is NAME.h5 (safe on every filesystem)."""
    return ",".join(f"{k}={format_value(v)}" for k, v in params.items())


def _sample(rng: np.random.Generator, name: str, spec):
    if isinstance(spec, list):
        return spec[int(rng.integers(len(spec)))]
    tp = _plain_type(field_types()[name])
    if spec.scale == "log":
        x = math.exp(rng.uniform(math.log(spec.lo), math.log(spec.hi)))
    else:
        x = rng.uniform(spec.lo, spec.hi + (1 if tp is int else 0))
    if tp is int:
        return int(min(max(math.floor(x) if spec.scale == "lin" else round(x), spec.lo), spec.hi))
    return float(f"{x:.3g}")          # 3 significant digits keep the file names readable


def make_trials(grid: dict, fixed: TrainConfig, seeds=(0,), random_n: int = 0,
                random_seed: int = 0) -> list[Trial]:
    """The sweep's trials in a fixed order, so that a re-run maps to the same files: the
    product of the grid's lists (or random_n draws from it, seeded by random_seed), each with
    every seed. A seed in the grid replaces `seeds`."""
    ranges = [k for k, v in grid.items() if isinstance(v, Range)]
    if ranges and random_n <= 0:
        raise FastrnnError(f"--grid {ranges[0]} is a range (LO:HI); ranges need --random N")
    keys = [k for k in grid if k != "seed"]
    seed_values = grid.get("seed", list(seeds))
    if random_n > 0:
        rng = np.random.default_rng(random_seed)
        combos, seen = [], set()
        for _ in range(100 * random_n):          # draws that repeat a trial are skipped
            combo = tuple(_sample(rng, k, grid[k]) for k in keys)
            if combo not in seen:
                seen.add(combo)
                combos.append(combo)
            if len(combos) == random_n:
                break
    else:
        combos = list(itertools.product(*(grid[k] for k in keys)))
    trials, names = [], set()
    for combo in combos:
        for seed in seed_values:
            params = dict(zip(keys, combo), seed=seed)
            trial = Trial(params, replace(fixed, **params))
            if trial.name in names:
                raise FastrnnError(f"two trials would share the checkpoint {trial.name}.h5; "
                                   "use values that differ in letters and digits")
            names.add(trial.name)
            trials.append(trial)
    return trials


# ------------------------------------------------------------------------- one trial
class _TrialCallbacks:
    """A trial's training callbacks: atomic checkpoints, stop when the sweep's Event is set."""

    def __init__(self, out: str, event):
        self.out, self.event = out, event
        self.next_look = 0.0

    def on_start(self, state, total, per_epoch): ...
    def on_progress(self, state, chars_per_sec): ...
    def on_sample(self, update, smooth, text): ...
    def on_epoch_end(self, state): ...
    def on_eval(self, update, val_loss): ...

    def on_checkpoint(self, state):
        from .checkpoint import save

        save(state, self.out)

    def should_stop(self) -> bool:
        # each look is a round trip to the scheduler: a few per second is prompt enough
        if self.event is None or time.monotonic() < self.next_look:
            return False
        self.next_look = time.monotonic() + STOP_POLL
        return bool(self.event.is_set())


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _resume_mismatch(old: TrainConfig, cfg: TrainConfig, path: str) -> str | None:
    """Why a trial's checkpoint cannot go on under cfg (a hyper-parameter other than the
    plan's differs), or None."""
    for f in fields(TrainConfig):
        if f.name in PLAN_FIELDS or f.name == "chars_per_update":  # derived from the text
            continue
        if getattr(old, f.name) != getattr(cfg, f.name):
            return (f"{path} was trained with {f.name}={getattr(old, f.name)!r}, this sweep "
                    f"asks {getattr(cfg, f.name)!r}; use another -o directory")
    return None


def _check_resumable(state, cfg: TrainConfig, path: str) -> None:
    old = state.config
    problem = _resume_mismatch(old, cfg, path)
    if problem:
        raise FastrnnError(problem)
    for name in PLAN_FIELDS:
        if name == "eval_every" and old.eval_every != cfg.eval_every:   # as train does
            state.changes.append((state.update, "eval_every", old.eval_every, cfg.eval_every))
        setattr(old, name, getattr(cfg, name))


def check_existing_trials(trials: list, out_dir: str) -> None:
    """Before a sweep touches out_dir: refuse it when a trial's existing checkpoint was
    trained with other hyper-parameters (a re-run with a changed option). Run anyway, every
    such trial failed, and its results row, marker and the manifest were overwritten. A
    checkpoint that does not load is left to its trial (it fails with the reason)."""
    from .checkpoint import load_config

    for t in trials:
        path = os.path.join(out_dir, t.name + ".h5")
        if not os.path.exists(path):
            continue
        try:
            old = load_config(path)       # the config alone: the trial loads the rest
        except FastrnnError:
            continue
        problem = _resume_mismatch(old, t.config, path)
        if problem:
            raise FastrnnError(problem.replace("; use another -o directory",
                                               "; give the sweep's own options, or another "
                                               "-o directory"))


def _state_row(state, row: dict) -> None:
    row.update(updates=state.update, epochs=state.epoch, final_smooth=state.smooth_loss,
               best_smooth=state.best_smooth if state.best_update >= 0 else None,
               best_update=state.best_update, wall_time=state.wall_time,
               chars_per_update=chars_per_update(state.config),
               # as `info` gives it: the whole run's (a re-run that finds the trial done,
               # or resumes it, keeps the figure)
               chars_per_sec=(chars_trained_per_update(state.config) * state.update
                              / state.wall_time if state.wall_time > 0 else None))
    if state.val_history:
        vals = [v for _, v in state.val_history]
        row.update(val_loss=vals[-1], best_val_loss=min(vals))


_WARM: set = set()   # (engine, dtype, ids dtype, validation) loaded in this worker process


def run_trial(corpus, config: dict, out_path: str, stop_event_name: str | None = None, *,
              name: str = "") -> dict:
    """Run one trial as `fastrnn train` would, inside a Dask worker (or any process).

    Resumes from out_path when it exists (a finished trial is skipped), trains with atomic
    checkpoints every checkpoint_every updates and at the end, stops early (checkpoint
    written, status 'interrupted') when the Event called stop_event_name is set. Any failure
    becomes status 'failed' with its one-line error, also kept in out_path + '.failed'.
    Returns the trial's row of results.csv plus timing fields (t_*) for the client.
    """
    from .checkpoint import load_state, save
    from .data import split_validation
    from .threads import pin_process
    from .runstate import DivergenceError, check_same_corpus, planned_updates
    from .nettrain import plan_chars_per_update, run_schedule, schedule_updates, uses_network
    from .train import new_state, train, warmup

    row = {"name": name, "checkpoint": os.path.basename(out_path), "status": "failed",
           "error": "", "t_enter": time.time(), "pid": os.getpid()}
    try:
        from distributed import get_worker
        row["worker"] = get_worker().address
    except (ImportError, ValueError):
        row["worker"] = f"pid {os.getpid()}"
    state = None
    try:
        pin_process()     # one BLAS thread: one trial per core is the sweep's parallelism
        cfg = TrainConfig.from_dict(config)
        if os.path.exists(out_path):
            state = load_state(out_path)
        train_corpus, val = split_validation(corpus, cfg.val_frac,
                                             train_chars=state and state.corpus_chars)
        schedule = run_schedule(train_corpus, cfg)             # validates seq_length too
        total = planned_updates(schedule_updates(schedule), cfg)
        if state is not None:
            _check_resumable(state, cfg, out_path)
            try:
                check_same_corpus(state, train_corpus)
            except FastrnnError as exc:
                raise FastrnnError(f"{out_path} was trained on another text ({exc}); use "
                                   "another -o directory") from None
            if state.update >= total:
                _state_row(state, row)
                row.update(status="done", t_train0=time.time(), t_train1=time.time())
                if os.path.exists(out_path + FAILED_SUFFIX):   # e.g. run with --retry-failed
                    os.unlink(out_path + FAILED_SUFFIX)
                return row
        else:
            state = new_state(train_corpus, cfg)
        plan_chars_per_update(schedule, state.config)       # as `fastrnn train` does
        event = None
        if stop_event_name:
            from distributed import Event
            event = Event(stop_event_name)
            if event.is_set():               # the sweep stopped before this trial began
                _state_row(state, row)
                row["status"] = "interrupted" if state.update else "pending"
                row.update(t_train0=time.time(), t_train1=time.time())
                return row
        # compile or load the trial's own kernels once per worker, outside its timing
        engine = cfg.cell if uses_network(cfg) else "course"
        warm = (engine, cfg.dtype, str(train_corpus.ids.dtype), val is not None)
        if warm not in _WARM:
            warmup(cfg.dtype, validation=val is not None, ids_dtype=train_corpus.ids.dtype,
                   config=cfg)
            _WARM.add(warm)
        row["t_train0"] = time.time()
        train(state, train_corpus, callbacks=_TrialCallbacks(out_path, event), val=val)
        save(state, out_path)
        row["t_train1"] = time.time()
        _state_row(state, row)
        row["status"] = "interrupted" if state.interrupted else "done"
        if os.path.exists(out_path + FAILED_SUFFIX):
            os.unlink(out_path + FAILED_SUFFIX)
    except Exception as exc:        # noqa: BLE001 -- one failed trial must not stop the others
        if state is not None:
            _state_row(state, row)
        msg = str(exc) if isinstance(exc, (FastrnnError, DivergenceError)) else \
            f"{type(exc).__name__}: {exc}"
        row.update(status="failed", error=_one_line(msg))
        row.setdefault("t_train0", time.time())
        row.setdefault("t_train1", time.time())
        try:
            with open(out_path + FAILED_SUFFIX, "w", encoding="utf-8") as fh:
                fh.write(row["error"] + "\n")
        except OSError:
            pass
    row["t_exit"] = time.time()
    return row


# ------------------------------------------------------------------------- results.csv
FIXED_COLUMNS = ("status", "updates", "epochs", "final_smooth", "best_smooth", "best_update",
                 "val_loss", "best_val_loss", "chars_per_sec", "wall_time", "error",
                 "checkpoint", "chars_per_update")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_results(path: str, rows: list[dict], keys: list[str]) -> None:
    """results.csv, atomically (temp file + os.replace): one row per trial."""
    columns = ["name", *keys, *FIXED_COLUMNS]
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        for row in rows:
            out.writerow([_fmt(row.get(c)) for c in columns])
    os.replace(tmp, path)


def read_results(path: str) -> tuple[list[dict], list[str]]:
    """The rows of results.csv (numbers as float/int) and the hyper-parameter columns."""
    if not os.path.exists(path):
        raise FastrnnError(f"no {RESULTS} in {os.path.dirname(path) or '.'}: run fastrnn sweep "
                           "first")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FastrnnError(f"{path} is not a fastrnn sweep table ({exc})") from None
    except OSError as exc:
        raise FastrnnError(f"cannot read {path}: {exc.strerror or exc}") from None
    if "name" not in header or "status" not in header:
        raise FastrnnError(f"{path} is not a fastrnn sweep table")
    for i, row in enumerate(rows, 2):         # line 1 is the header
        for c in ("updates", "epochs", "best_update", "final_smooth", "best_smooth", "val_loss",
                  "best_val_loss", "chars_per_sec", "wall_time", "chars_per_update"):
            if not row.get(c):
                row[c] = None
                continue
            try:
                value = float(row[c])
            except (TypeError, ValueError):
                raise FastrnnError(f"{path} line {i}: {c} is {row[c]!r}, not a number (an "
                                   "edited table? the sweep rewrites it when run again)") from None
            row[c] = int(value) if c in ("updates", "epochs", "best_update") else value
    keys = [c for c in header if c not in ("name", *FIXED_COLUMNS)]
    return rows, keys


def rank_key(rows: list[dict]):
    """Sort key: best validation loss when the sweep has one, else best smooth loss per
    character (comparable across seq_length); failed or empty trials last."""
    use_val = any(r.get("best_val_loss") is not None for r in rows)
    # characters per update, the smooth loss's divisor (fewer than seq_length in per-record
    # runs), when every row has it; rows of older versions have seq_length only when it was
    # swept, and a table mixing both is ranked by that older rule throughout
    per_update = all(r.get("chars_per_update") for r in rows if r.get("best_smooth") is not None)

    def key(row):
        if use_val:
            v = row.get("best_val_loss")
        else:
            v = row.get("best_smooth")
            tau = row.get("chars_per_update") if per_update else row.get("seq_length")
            v = v / float(tau) if v is not None and tau else v
        return (v is None or row.get("status") == "failed", v if v is not None else math.inf)
    return key, use_val


# -------------------------------------------------------------------------- the sweep
@dataclass
class SweepResult:
    rows: list
    interrupted: int = 0          # the signal number that stopped the sweep, or 0
    aborted: bool = False         # a second signal: trials may not have saved
    overheads: list = None        # seconds of scheduling per trial, beyond its own run time
    elapsed: float = 0.0


class StopFlag:
    """Set by the client's signal handler: the first signal stops, a second aborts.

    The same signal again within REPEAT_SECONDS of the first is the same request:
    `timeout -s INT 300 fastrnn sweep ...` delivers its signal twice at once (to the command,
    then to the process group it created), and a person's second Ctrl-C comes later."""

    REPEAT_SECONDS = 1.0

    def __init__(self, clock=time.monotonic):
        self.signum, self.count = 0, 0
        self._clock, self._first = clock, None

    def __call__(self, signum, frame=None):
        now = self._clock()
        if self.count and signum == self.signum and now - self._first < self.REPEAT_SECONDS:
            return
        if not self.count:
            self.signum, self._first = signum, now
        self.count += 1


class _Worker:
    """What the client hands to workers: ignore terminal Ctrl-C (the client decides)."""

    name = "fastrnn-sweep"

    def setup(self, worker):
        # Ctrl-C in a terminal reaches the whole process group, LocalCluster's workers too;
        # a worker killed by it would lose its trial's updates since the last checkpoint.
        # The client sets the stop Event instead, and every trial saves.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.environ.update(WORKER_ENV)


def worker_plugin():
    from distributed.diagnostics.plugin import WorkerPlugin

    return type("SweepWorkerPlugin", (_Worker, WorkerPlugin), {})()


def local_cluster(n_workers: int, dashboard_address: str = ":8787"):
    """One single-threaded worker process per core, started with SIGINT ignored (inherited
    through spawn) and one thread for Numba, OpenMP and BLAS."""
    from distributed import LocalCluster

    old = signal.signal(signal.SIGINT, signal.SIG_IGN) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=dashboard_address, env=dict(WORKER_ENV))
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def close_cluster(client, cluster, timeout: float = 10.0) -> None:
    """Close the client, then a local cluster (None: a remote one, not ours to close) workers
    first. The client goes first so that the scheduler has forgotten the corpus it scattered:
    retiring a worker that holds data a client still wants logs an ERROR ("caused the cluster
    to lose scattered data") on a sweep stopped by Ctrl-C. The workers go before the
    scheduler: a worker whose scheduler closes under it logs a heartbeat failure with a
    traceback (it failed one CI run of the sweep tests)."""
    try:
        client.close()
    finally:
        if cluster is not None:
            try:
                cluster.scale(0)
                deadline = time.monotonic() + timeout
                while cluster.workers and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                cluster.close()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # macOS, Windows
        return os.cpu_count() or 1


def _overheads(rows_by_name: dict, submitted: dict, received: dict) -> list[float]:
    """Per trial: client-observed time from 'a worker was free for it' to 'result in hand',
    minus the time the trial itself ran in the worker."""
    by_worker: dict = {}
    for name, row in rows_by_name.items():
        if "t_enter" in row and "t_exit" in row and name in received:
            by_worker.setdefault(row.get("worker"), []).append(row)
    out = []
    for rows in by_worker.values():
        rows.sort(key=lambda r: r["t_enter"])
        free = None
        for row in rows:
            ready = max(submitted[row["name"]], free if free is not None else -math.inf)
            own = row["t_exit"] - row["t_enter"]
            out.append(max(received[row["name"]] - ready - own, 0.0))
            free = row["t_exit"]
    return out


def run_sweep(client, corpus, trials: list[Trial], out_dir: str, keys: list[str], *,
              retry_failed: bool = False, log=lambda msg: None,
              stop: StopFlag | None = None) -> SweepResult:
    """Run every trial on the client's cluster and keep results.csv up to date.

    Once stop.signum is set (by a signal handler), the sweep sets the stop Event, waits for
    the running trials to write their checkpoints (trials not yet started return at once),
    and returns; a second signal (stop.count > 1) cancels everything and returns at once.
    Trials that failed in an earlier run (a .failed marker) are skipped unless retry_failed.
    """
    stop = stop or StopFlag()
    from distributed import Event
    from distributed.scheduler import KilledWorker

    t0 = time.time()
    results_path = os.path.join(out_dir, RESULTS)
    rows = {t.name: {"name": t.name, **t.params, "status": "pending",
                     "checkpoint": t.name + ".h5"} for t in trials}
    old_rows = []
    if os.path.exists(results_path):      # rows of earlier sweeps into this directory stay
        try:
            old, old_keys = read_results(results_path)
            old_rows = [r for r in old if r["name"] not in rows]
            keys = keys + [k for k in old_keys if k not in keys]
        except (FastrnnError, OSError, csv.Error, ValueError):
            old_rows = []

    def write():
        write_results(results_path, [*rows.values(), *old_rows], keys)

    todo = []
    for t in trials:
        marker = os.path.join(out_dir, t.name + ".h5" + FAILED_SUFFIX)
        if os.path.exists(marker) and not retry_failed:
            with open(marker, encoding="utf-8") as fh:
                rows[t.name].update(status="failed", error=_one_line(fh.read()))
            log(f"skip {t.name}: failed before (--retry-failed runs it again)")
        else:
            todo.append(t)
    write()
    event_name = f"fastrnn-sweep-stop-{uuid.uuid4().hex}"
    event = Event(event_name, client=client)
    client.register_plugin(worker_plugin(), name=_Worker.name)
    # sent to each worker once; a resubmission (below) sends it again and rebinds the name,
    # which submit() reads when it is called
    corpus_future = client.scatter(corpus, broadcast=True)
    submitted, received = {}, {}
    by_name = {t.name: t for t in todo}
    resubmitted = dict.fromkeys(by_name, 0)

    def submit(t):
        path = os.path.abspath(os.path.join(out_dir, t.name + ".h5"))
        submitted.setdefault(t.name, time.time())
        # retries: a task whose worker died is re-run by the scheduler anyway (it resumes
        # from the trial's checkpoint); retries cover an error outside run_trial's own guard
        return client.submit(run_trial, corpus_future, t.config.as_dict(), path, event_name,
                             name=t.name, pure=False, retries=2,
                             key=f"trial-{t.name}-{uuid.uuid4().hex[:8]}")

    pending = {}
    for t in todo:
        pending[t.name] = submit(t)
        rows[t.name]["status"] = "pending"
    result = SweepResult(rows=[])
    n_done = len(trials) - len(todo)
    while pending:
        if stop.signum and not result.interrupted:
            result.interrupted = stop.signum
            event.set()
            log("stopping: the running trials are writing their checkpoints, the others "
                "will not start (signal again, a second or more later, to abort at once)")
        if stop.count > 1:
            result.aborted = True
            client.cancel(list(pending.values()))
            break
        for name in [n for n, f in pending.items() if f.done()]:
            fut = pending.pop(name)
            received[name] = time.time()
            try:
                row = fut.result()
            except Exception as exc:       # noqa: BLE001 -- e.g. KilledWorker: record, go on
                error = _one_line(f"{type(exc).__name__}: {exc}")
                # run_trial returns its own failures as rows, so an exception here is the
                # cluster losing the task: a future cancelled as 'already forgotten' when its
                # worker died, or the dead worker held the corpus's last copy (Dask's memory
                # manager drops extra replicas of scattered data), and then every
                # resubmission is cancelled for 'lost dependencies' unless the corpus is sent
                # again (always: a future's status may not say 'lost' yet). The trial resumes
                # from its checkpoint, so submitting it again is safe: a few times, unless
                # stopping. Not after KilledWorker: Dask has already run the task on several
                # workers and each died (a trial that kills its process, e.g. out of memory).
                if not (result.interrupted or result.aborted or isinstance(exc, KilledWorker)) \
                        and resubmitted[name] < MAX_RESUBMITS:
                    resubmitted[name] += 1
                    log(f"{name}: {error}; submitting it again (it resumes from its checkpoint)")
                    corpus_future = client.scatter(corpus, broadcast=True)
                    pending[name] = submit(by_name[name])
                    continue
                row = {"status": "failed", "error": error}
            rows[name].update(row)
            n_done += 1
            log(_progress_line(n_done, len(trials), rows[name]))
            write()
        time.sleep(0.05)
    write()
    corpus_future.release()         # before the cluster closes (see close_cluster)
    result.rows = list(rows.values())
    result.overheads = _overheads(rows, submitted, received)
    result.elapsed = time.time() - t0
    return result


def _progress_line(i: int, n: int, row: dict) -> str:
    status = row.get("status")
    if status == "failed":
        return f"[{i}/{n}] failed {row['name']}: {row.get('error')}"
    parts = [f"[{i}/{n}] {status} {row['name']}: {row.get('updates') or 0:,} updates"]
    if row.get("best_smooth") is not None:
        parts.append(f"best smooth loss {row['best_smooth']:.3f}")
    if row.get("best_val_loss") is not None:
        parts.append(f"best val {row['best_val_loss']:.4f}")
    if row.get("wall_time"):
        parts.append(f"{row['wall_time']:.1f} s")
    return ", ".join(parts)


def write_manifest(out_dir: str, data: dict) -> None:
    tmp = os.path.join(out_dir, f".{MANIFEST}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, os.path.join(out_dir, MANIFEST))


def read_manifest(out_dir: str) -> dict:
    """sweep.json, or {} when it is missing or not what a sweep writes (the best command then
    names TEXT and the trial's own values only)."""
    try:
        with open(os.path.join(out_dir, MANIFEST), encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not (isinstance(manifest, dict) and isinstance(manifest.get("text", ""), str)
            and isinstance(manifest.get("train_args", []), list)
            and all(isinstance(a, str) for a in manifest.get("train_args", []))):
        return {}
    return manifest


# ------------------------------------------------------------------------ sweep-report
def ranked(rows: list[dict]) -> tuple[list[dict], bool]:
    """The rows best first (see rank_key) and whether validation loss ranked them."""
    key, use_val = rank_key(rows)
    return sorted(rows, key=key), use_val


def format_table(rows: list[dict], keys: list[str]) -> str:
    """The ranked results as an aligned text table."""
    head = ["#", *keys, "status", "updates", "smooth", "best smooth", "val", "best val",
            "chars/s", "wall s"]

    def num(v, fmt):
        return "" if v is None else format(v, fmt)

    lines = [head]
    for i, r in enumerate(rows, 1):
        lines.append([str(i), *("" if r.get(k) is None else str(r[k]) for k in keys),
                      str(r.get("status") or ""),
                      num(r.get("updates"), ","), num(r.get("final_smooth"), ".3f"),
                      num(r.get("best_smooth"), ".3f"), num(r.get("val_loss"), ".4f"),
                      num(r.get("best_val_loss"), ".4f"), num(r.get("chars_per_sec"), ",.0f"),
                      num(r.get("wall_time"), ".1f")])
    widths = [max(len(line[c]) for line in lines) for c in range(len(head))]
    text = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths)).rstrip()
            for line in lines]
    for r in rows:
        if r.get("status") == "failed" and r.get("error"):
            text.append(f"failed {r['name']}: {r['error']}")
    return "\n".join(text)


def curves_figure(out_dir: str, rows: list[dict], keys: list[str], path: str, *,
                  width: int = 1000, height: int = 600, dpi: int = 100,
                  missing: list | None = None) -> int:
    """One figure of every trial's smooth loss per character (and validation loss, dashed)
    against updates, best trial bold. Returns the number of curves drawn; with none (every
    trial failed before its first update, or has no checkpoint) it writes nothing. A trial
    the table counts as trained whose checkpoint is gone or does not load is appended to
    `missing` as (name, why)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .checkpoint import load_state

    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = [f"C{i}" for i in range(10)]
    drawn = 0
    for i, row in enumerate(rows):
        ckpt = os.path.join(out_dir, row.get("checkpoint") or row["name"] + ".h5")
        trained = row.get("status") in ("done", "interrupted") and missing is not None
        if not os.path.exists(ckpt):
            if trained:
                missing.append((row["name"], "its checkpoint is gone"))
            continue
        try:
            state = load_state(ckpt)
        except FastrnnError as exc:
            if trained:
                missing.append((row["name"], str(exc)))
            continue
        if state.update == 0:
            continue
        tau = chars_per_update(state.config)
        color, best = colors[i % len(colors)], i == 0
        label = ", ".join(f"{k}={row.get(k)}" for k in keys) or row["name"]
        ax.plot(np.arange(state.update), state.smooth_history[:state.update] / tau,
                color=color, lw=2.5 if best else 1.2, label=("best: " if best else "") + label,
                ls="-" if i < 10 else "--", zorder=3 if best else 2)
        if state.val_history:
            vu, vl = np.array(state.val_history, np.float64).T
            ax.plot(vu, vl, "o:", color=color, ms=3, lw=1)
        drawn += 1
    if not drawn:
        return 0
    ax.set_xlabel("update")
    ax.set_ylabel("smooth loss per character (nats); dotted: validation")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", ncol=1 if drawn <= 12 else 2)
    ax.set_title(f"{os.path.basename(os.path.abspath(out_dir))}: {drawn} trials", fontsize=10)
    fig.tight_layout()
    try:
        fig.savefig(path, format=os.path.splitext(path)[1].lower().lstrip("."))
    except OSError as exc:
        raise FastrnnError(f"cannot write {path}: {exc.strerror or exc}") from None
    return drawn


def best_command(row: dict, keys: list[str], manifest: dict) -> list[str]:
    """`fastrnn train TEXT <the sweep's fixed options> --key value ... -o best.h5`, without
    the options this trial's optimizer or cell never reads (`train` would refuse them: a sweep
    over optimizers may fix --beta1 for its Adam trials)."""
    from .config import APPLIES_READS, inapplicable

    fixed = list(manifest.get("train_args", []))

    def setting(name: str, default: str) -> str:
        if row.get(name) not in (None, ""):
            return str(row[name])
        flag = "--" + name.replace("_", "-")
        if _plain_type(field_types()[name]) is bool:      # a flag: given or not
            return "true" if flag in fixed else default
        return fixed[fixed.index(flag) + 1] if flag in fixed[:-1] else default

    # the trial's config, as far as config.inapplicable reads it
    defaults = TrainConfig()
    trial = replace(defaults, **{name: convert_value(name, setting(name, str(getattr(defaults,
                                                                                     name))))
                                 for name in APPLIES_READS})

    def unused(flag: str) -> bool:
        return inapplicable(trial, [flag[2:].replace("-", "_")]) is not None

    cmd = ["fastrnn", "train", manifest.get("text", "TEXT")]
    i = 0
    swept = {"--" + k.replace("_", "-") for k in keys}
    while i < len(fixed):          # the options that may be dropped all take a value
        if fixed[i].startswith("--") and (unused(fixed[i]) or fixed[i] in swept):
            i += 2                 # (a swept one, e.g. a typed --seed: the trial's value wins)
            continue
        cmd.append(fixed[i])
        i += 1
    for k in keys:
        value = row.get(k)
        if value in (None, "") or unused("--" + k):
            continue
        flag = "--" + k.replace("_", "-")
        if str(value).lower() in ("true", "false"):        # a boolean field is a flag
            cmd += [flag] if str(value).lower() == "true" else []
        else:
            cmd += [flag, str(value)]
    return cmd + ["-o", "best.h5"]
