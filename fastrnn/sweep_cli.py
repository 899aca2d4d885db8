"""The `fastrnn sweep` and `fastrnn sweep-report` commands (registered on the group by cli.py).

`sweep` accepts every option of `train` that sets a TrainConfig field or says how to read TEXT:
they are copied from the train command when the group is built, so options that others add to
`train` (and TrainConfig) become fixed sweep options and --grid keys without a change here.
The library side is fastrnn.sweep.
"""
from __future__ import annotations

import copy
import os
import shlex
import signal
import sys
import time

import click

from .errors import FastrnnError

READING_OPTIONS = ("encoding", "json_field")     # train options that are not TrainConfig fields
NOT_COPIED = ("out", "overwrite", "resume", "quiet", "text")


def _train_options(train_cmd) -> list:
    """Copies of train's options that fix a hyper-parameter or say how TEXT is read."""
    from .sweep import field_types

    names = set(field_types()) | set(READING_OPTIONS)
    return [copy.copy(p) for p in train_cmd.params
            if isinstance(p, click.Option) and p.name in names and p.name not in NOT_COPIED]


def _validator(options: dict):
    """Check a --grid value with train's own click type (ranges, choices) when train has
    that option, else convert it to the TrainConfig field's type."""
    from .sweep import convert_value

    def validate(name, text):
        param = options.get(name)
        if param is None or param.is_flag:
            return convert_value(name, text)
        try:
            return param.type.convert(text, param, None)
        except click.BadParameter as exc:
            raise FastrnnError(f"--grid {name}={text}: {exc.format_message()}") from None
    return validate


def _train_args(ctx, options: dict) -> list[str]:
    """The fixed train options as given on the command line (for the best trial's command)."""
    from .cli import escape_separator

    args = []
    for name, param in options.items():
        source = ctx.get_parameter_source(name)
        if source not in (click.core.ParameterSource.COMMANDLINE,
                          click.core.ParameterSource.ENVIRONMENT):
            continue
        value = ctx.params[name]
        flag = max((o for o in param.opts if o.startswith("--")), key=len)
        if param.is_flag:
            args += [flag] if value else []
        elif name == "record_separator":           # typed again, its escapes are read
            args += [flag, escape_separator(value)]
        else:
            args += [flag, str(value)]
    return args


def _connect(scheduler: str | None, workers: int, dashboard: str, timeout: float, log):
    from distributed import Client

    from .sweep import local_cluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as exc:
            why = " ".join(str(exc).split()) or type(exc).__name__
            raise FastrnnError(f"cannot reach the Dask scheduler at {scheduler} within "
                               f"{timeout:g} s ({why[:160]})") from None
        n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        log(f"using the Dask cluster at {scheduler}: {n} worker(s)"
            + ("; trials wait until workers join" if n == 0 else ""))
        return client, None
    cluster = local_cluster(workers, dashboard)
    client = Client(cluster)
    log(f"started a local Dask cluster: {workers} single-threaded worker process(es)")
    return client, cluster


def _dashboard(client) -> str:
    import importlib.util

    link = client.dashboard_link
    if importlib.util.find_spec("bokeh") is None:
        link += " (served only when bokeh is installed: pip install bokeh)"
    return link


def register(cli) -> None:
    """Add `sweep` and `sweep-report` to the fastrnn command group."""
    from .data import read_input

    context = cli.context_settings      # the group's: -h, defaults shown

    train_cmd = cli.commands["train"]
    copied = _train_options(train_cmd)
    options = {p.name: p for p in copied}

    def sweep(ctx, text, grid, seeds, random_n, random_seed, out_dir, scheduler, workers,
              dashboard_address, connect_timeout, retry_failed, quiet, **opts):
        from dataclasses import replace

        from .cli import RECORD_OPTIONS, _check_record_options, typed
        from .config import DEFAULT_ETA, TrainConfig, inapplicable
        from .sweep import (SweepResult, StopFlag, check_existing_trials, close_cluster,
                            make_trials, parse_grid, run_sweep, usable_cores, write_manifest)

        log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
        if not grid:
            raise FastrnnError("give at least one --grid KEY=V1,V2,... (e.g. --grid "
                               "eta=0.05,0.1,0.2)")
        parsed = parse_grid(grid, _validator(options))
        given = [k for k in parsed if k in typed(ctx, opts)]
        if given:
            raise FastrnnError(f"--{given[0].replace('_', '-')} is given both as an option "
                               "and in --grid")
        if "seed" in parsed and seeds != 1:
            raise FastrnnError("--seeds cannot be combined with --grid seed=...")
        if "unescape_html" in opts:    # a flag whose None means "as a checkpoint says"
            opts["unescape_html"] = bool(opts["unescape_html"])
        eta_given = opts["eta"] is not None or "eta" in parsed
        if opts["eta"] is None:        # train's default: by optimizer (config.DEFAULT_ETA)
            opts["eta"] = DEFAULT_ETA[opts["optimizer"]]
        fixed = TrainConfig(**{k: v for k, v in opts.items() if k not in READING_OPTIONS})
        trials = make_trials(parsed, fixed, seeds=[fixed.seed + i for i in range(seeds)],
                             random_n=random_n, random_seed=random_seed)
        if not eta_given:              # a swept optimizer brings its own default rate
            for trial in trials:
                trial.config = replace(trial.config,
                                       eta=DEFAULT_ETA[trial.config.optimizer])
        # an option (given, or swept) that no trial's optimizer or cell reads is a mistake
        named = typed(ctx, opts) + list(parsed)
        for name in named:
            problems = [inapplicable(t.config, [name]) for t in trials]
            if all(problems):
                raise FastrnnError(problems[0].replace("the run's", "every trial's"))
        keys = [k for k in parsed if k != "seed"] + ["seed"]
        drawn = len(trials) // max(1, len(parsed.get("seed", [])) or seeds)
        if random_n and drawn < random_n:
            log(f"--random {random_n}: the grid holds only {drawn} different trial"
                f"{'s' if drawn != 1 else ''}; running {'them' if drawn != 1 else 'it'}")
        corpus = read_input(text, encoding=opts["encoding"], json_field=opts["json_field"],
                         config=fixed)
        _check_record_options(text, opts["json_field"], typed(ctx, RECORD_OPTIONS))
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise FastrnnError(f"-o {out_dir} exists and is not a directory")
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as exc:
            raise FastrnnError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
        if not os.access(out_dir, os.W_OK):
            raise FastrnnError(f"-o {out_dir} is not writable")
        check_existing_trials(trials, out_dir)
        write_manifest(out_dir, {"text": text, "train_args": _train_args(ctx, options),
                                 "grid": list(grid), "seeds": seeds, "random": random_n,
                                 "random_seed": random_seed})
        log(f"sweep of {len(trials)} trial(s) on {corpus.name} ({corpus.n_chars:,} chars, "
            f"K={len(corpus.vocab)}) into {out_dir}")
        client, cluster = _connect(scheduler, workers or usable_cores(), dashboard_address,
                                   connect_timeout, log)
        stop = StopFlag()
        # From here SIGINT/SIGTERM only raise the flag: the sweep sets its stop Event, the
        # running trials write their checkpoints, and we exit 128 + signum.
        old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        result = SweepResult(rows=[])
        try:
            log(f"dashboard: {_dashboard(client)}")
            result = run_sweep(client, corpus, trials, out_dir, keys, retry_failed=retry_failed,
                               log=log, stop=stop)
        finally:
            try:
                close_cluster(client, cluster)
            finally:
                for s, handler in old.items():
                    signal.signal(s, handler)
        counts = {}
        for row in result.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        results = os.path.join(out_dir, "results.csv")
        if result.interrupted:
            name = signal.Signals(result.interrupted).name
            how = ("aborted: running trials kept only their last periodic checkpoint"
                   if result.aborted else "running trials wrote their checkpoints")
            click.echo(f"{name}: sweep stopped ({summary}); {how}; results in {results}; "
                       "re-run the same command to continue", err=True)
            sys.exit(128 + result.interrupted)
        ov = result.overheads or [0.0]
        log(f"sweep done: {len(result.rows)} trials ({summary}) in {result.elapsed:.1f} s; "
            f"scheduling overhead {sum(ov) / len(ov):.2f} s/trial (max {max(ov):.2f}); "
            f"results: {results}; table: fastrnn sweep-report {shlex.quote(out_dir)}")

    params = [
        click.Argument(["text"]),
        click.Option(["--grid", "-g"], multiple=True,
                     help="KEY=V1,V2,... : the trials are the product of the lists; with "
                          "--random, also KEY=LO:HI[:log|:lin] (floats log-uniform, integers "
                          "uniform by default). KEY is any training hyper-parameter "
                          "(hidden, eta, seq-length, ...)."),
        click.Option(["--seeds"], type=click.IntRange(min=1), default=1,
                     help="Run each combination with seeds --seed, --seed+1, ..."),
        click.Option(["--random", "random_n"], type=click.IntRange(min=0), default=0,
                     help="Sample N combinations from the grid's lists and ranges instead of "
                          "the full product (0 = the full grid)."),
        click.Option(["--random-seed"], type=int, default=0,
                     help="Seed of the --random draws (the same seed gives the same trials)."),
        click.Option(["--out", "-o", "out_dir"], default="sweep",
                     help="Directory of the trials' checkpoints, results.csv and sweep.json."),
        click.Option(["--scheduler"], default=None, envvar="DASK_SCHEDULER_ADDRESS",
                     help="Use the Dask cluster at this address (tcp://host:8786) instead of "
                          "starting a local one [env: DASK_SCHEDULER_ADDRESS]."),
        click.Option(["--workers"], type=click.IntRange(min=1), default=None,
                     help="Worker processes of the local cluster [default: usable cores]."),
        click.Option(["--dashboard-address"], default=":8787",
                     help="Where the local cluster serves its dashboard (':0' = any port)."),
        click.Option(["--connect-timeout"], type=click.FloatRange(min=0.1), default=10.0,
                     help="Seconds to wait for --scheduler before giving up."),
        click.Option(["--retry-failed"], is_flag=True,
                     help="Run trials that failed in an earlier run of this sweep again."),
        click.Option(["--quiet", "-q"], is_flag=True, help="Print only errors."),
        *copied,
    ]
    cli.add_command(click.Command(
        "sweep", context_settings=context, params=params,
        callback=click.pass_context(sweep),
        help="""Hyper-parameter search on TEXT: many `train` runs on a Dask cluster.

        Each trial is an ordinary training run whose checkpoint, named by its hyper-parameters
        (e.g. eta=0.05,hidden=100,seed=0.h5), goes into --out; every other train option is
        fixed for all trials. results.csv is updated as trials finish. Re-running the same
        command skips finished trials and resumes interrupted ones; Ctrl-C stops cleanly,
        every running trial writing its checkpoint. Trials that fail (e.g. diverge) are
        recorded with their error and the others go on.
        """))

    @cli.command("sweep-report", context_settings=context)
    @click.argument("out_dir", metavar="DIR")
    @click.option("--figure", "-o", default=None,
                  help="Image of all loss curves overlaid [default: DIR/loss_curves.png].")
    def sweep_report(out_dir, figure):
        """Print DIR's sweep results best first (validation loss, else smooth loss per
        character), draw all loss curves in one figure and print the best trial's command."""
        from .plot import FORMATS
        from .sweep import (RESULTS, best_command, curves_figure, format_table, ranked,
                            read_manifest, read_results)

        if not os.path.isdir(out_dir):
            raise FastrnnError(f"no such sweep directory: {out_dir}")
        rows, keys = read_results(os.path.join(out_dir, RESULTS))
        if not rows:
            raise FastrnnError(f"{out_dir}/{RESULTS} has no trials")
        rows, use_val = ranked(rows)
        figure = figure or os.path.join(out_dir, "loss_curves.png")
        if os.path.splitext(figure)[1].lower().lstrip(".") not in FORMATS:
            raise FastrnnError(f"{figure}: use one of " + ", ".join("." + f for f in FORMATS))
        by = "best validation loss" if use_val else "best smooth loss"
        click.echo(f"{len(rows)} trials in {out_dir}, best first (by {by}):")
        click.echo(format_table(rows, keys))
        t0 = time.perf_counter()
        missing = []
        n = curves_figure(out_dir, rows, keys, figure, missing=missing)
        for name, why in missing:
            click.echo(f"note: no loss curve for {name}: {why}")
        if n:
            click.echo(f"wrote {figure} ({n} loss curves, {time.perf_counter() - t0:.1f} s)")
        else:       # the table above already says why (failed trials and their errors)
            old = " (the existing one is an earlier report's)" if os.path.exists(figure) else ""
            click.echo("no loss-curve figure: no trial has a checkpoint with training history"
                       + old)
        best = rows[0]
        if best.get("status") != "failed" and best.get("best_smooth") is not None:
            click.echo("best trial: " + shlex.join(best_command(best, keys,
                                                                read_manifest(out_dir))))
