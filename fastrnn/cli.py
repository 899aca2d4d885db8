"""The `fastrnn` command: a click group whose commands parse, validate, call the library, print.

Library errors (FastrnnError) become one-line `Error: ...` messages with exit code 1 at this
boundary; usage errors are one line too (exit 2). Defaults come from fastrnn.config.
"""
from __future__ import annotations

import math
import os
import re
import shlex
import signal
import sys
import time

import click

from .config import (CELLS, DTYPES, OPTIMIZERS, GradcheckConfig, PlotConfig, ReportConfig,
                     SampleConfig, TrainConfig, inapplicable, option_name)
from .data import read_input
from .errors import FastrnnError
from .paths import check_parent_writable

_T, _S, _G = TrainConfig(), SampleConfig(), GradcheckConfig()
CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True}
BUILTIN_HELP = "TEXT may be 'builtin:python-docs': CPython's own documentation, always offline."


class OneLineErrors(click.Group):
    """A group whose errors print as a single line, never a traceback or a usage block."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):   # Ctrl-C outside training
                click.echo("Interrupted.", err=True)
                sys.exit(128 + signal.SIGINT)
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.exceptions.NoArgsIsHelpError as exc:   # bare `fastrnn`: the normal help
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except (click.exceptions.MissingParameter, click.exceptions.NoSuchOption) as exc:
            # what is missing or unknown is the command's shape: point at its help
            hint = f"; see '{exc.ctx.command_path} -h'" if exc.ctx is not None else ""
            message = _one_line(exc.format_message()).rstrip(".")
            click.echo(f"Error: {message}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except FastrnnError as exc:
            click.echo(f"Error: {_one_line(str(exc))}", err=True)
            sys.exit(1)
        except OSError as exc:   # an I/O failure no command anticipated: still one line
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"Error: {_one_line(exc.strerror or str(exc))}{where}", err=True)
            sys.exit(1)


def _one_line(message: str) -> str:
    return " ".join(message.split())


@click.group(cls=OneLineErrors, context_settings=CONTEXT)
@click.version_option(package_name="fastrnn")
def cli():
    """Train character-level RNN, LSTM and GRU language models on a CPU, fast and exactly.

    The defaults are DD2424 Assignment 4 / min-char-rnn's vanilla RNN; `train --cell lstm
    --layers 2 --batch 32 --optimizer adam` goes beyond it (docs/models.md)."""


# --------------------------------------------------------------------------- shared options
# Each option used by several commands is declared once here, so its name, default and help
# cannot drift apart between commands.
def checkpoint_argument(f):
    return click.argument("checkpoint_path", metavar="CHECKPOINT")(f)


def encoding_option(f):
    return click.option("--encoding", default="utf-8", help="Text encoding of TEXT.")(f)


def json_field_option(f):
    return click.option(
        "--json-field", default=None,
        help="TEXT is a JSON list of records: read this field of each [.json files: text; "
             "on --resume, and in eval of a .json file or of the file trained on, the field "
             "the checkpoint was trained on]; records are split or joined as in training "
             "(--reset-per-record).")(f)


def unescape_html_option(f):
    return click.option(
        "--unescape-html", is_flag=True, default=None,
        help="JSON: decode HTML entities (&amp; &lt; &#39; ...) in the record text, as tweet "
             "archives need (train: off unless given; eval: as the checkpoint was trained).")(f)


def best_option(f):
    return click.option("--best/--latest", default=True,
                        help="Use the best model (lowest smooth loss) or the latest "
                             "parameters.")(f)


def overwrite_option(what: str):
    return click.option("--overwrite", is_flag=True, help=f"Replace {what} if it exists.")


# ------------------------------------------------------------------------------------ train
class CheckpointingCallbacks:
    """The training callbacks of `fastrnn train`: write checkpoints, remember the last good
    one, turn a signal into a clean stop, and forward every event to the progress display."""

    def __init__(self, out: str, progress, saved: tuple | None = None):
        self.out = out
        self.progress = progress   # fastrnn.progress.Progress (or Silent with --quiet)
        self.signal = None
        self.saved = saved         # (path, update) of the last checkpoint known to be good

    def on_start(self, state, total, per_epoch):
        self.progress.start(state, total, per_epoch)

    def on_progress(self, state, chars_per_sec):
        self.progress.progress(state, chars_per_sec)

    def on_sample(self, update, smooth, text):
        self.progress.write(f"\n--- update {update:,}, smooth loss {smooth:.3f}\n{text}\n---")

    def on_epoch_end(self, state):
        pass

    def on_eval(self, update, val_loss):
        self.progress.validation(update, val_loss)

    def on_checkpoint(self, state):
        from .checkpoint import save

        try:
            save(state, self.out)
        except FastrnnError as exc:
            raise FastrnnError(f"{exc}; training stopped at update {state.update:,}"
                               f"{self.kept()}") from None
        self.saved = (self.out, state.update)

    def kept(self) -> str:
        """Where the last good checkpoint is, as the end of an error message."""
        if self.saved is None:
            return f"; no checkpoint of this run was written to {self.out}"
        path, update = self.saved
        return f"; the last good checkpoint is {path} (update {update:,})"

    def should_stop(self):
        return self.signal is not None

    def close(self):
        self.progress.close()


def _cut_at(pieces, until: str | None):
    """The pieces of a text stream, ending right after the first occurrence of `until`."""
    if until is None:
        yield from pieces
        return
    seen = ""
    for piece in pieces:
        seen += piece
        at = seen.find(until)
        if at >= 0:
            yield piece[:len(piece) - (len(seen) - at - len(until))]
            return
        yield piece
        # an occurrence may straddle pieces: keep up to len(until) - 1 characters
        seen = seen[max(0, len(seen) - len(until) + 1):]


def _echo_stream(pieces, prime: str | None) -> None:
    first = next(pieces, "")       # checks --prime before anything is printed
    if prime:
        click.echo(prime, nl=False)
    click.echo(first, nl=False)
    for piece in pieces:
        click.echo(piece, nl=False)
    click.echo()


def _check_out(out: str, overwrite: bool, resume: str | None, text: str):
    """Before any training: --out must be a file name this run may write."""
    if not out.strip():
        raise FastrnnError("--out is empty; give the checkpoint's file name (e.g. -o ckpt.h5)")
    if os.path.isdir(out):       # before "exists": --overwrite would not help
        raise FastrnnError(f"--out {out} is a directory; give a file name (e.g. "
                           f"{os.path.join(out, 'ckpt.h5')})")
    if os.path.exists(out) and os.path.exists(text) and os.path.samefile(out, text):
        raise FastrnnError(f"--out {out} is TEXT itself; choose another checkpoint name")
    if os.path.exists(out) and not overwrite and not (
            resume and os.path.abspath(resume) == os.path.abspath(out)):
        raise FastrnnError(f"{out} exists; pass --overwrite to replace it, or --resume {out}")
    companion = out + ".history"
    if not os.path.exists(out) and os.path.exists(companion) and not overwrite:
        # the loss history of a long run whose checkpoint was renamed without it: the new
        # run would replace (or, ending short, delete) what that checkpoint still reads
        raise FastrnnError(f"{companion} exists without {out}: the loss history of another "
                           "checkpoint (renamed without it?); move it beside that checkpoint "
                           "with its name, or pass --overwrite to replace it")
    check_parent_writable(out, "--out")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape_separator(value: str | None) -> str | None:
    r"""--record-separator "\n" (as the help's default reads) means a newline, not a backslash
    and an n: \n, \t, \r and \\ are escapes; any other backslash stays as typed."""
    if value is None:
        return None
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)


def escape_separator(value: str) -> str:
    """The inverse of unescape_separator, for a command printed to be typed again."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace(
        "\r", "\\r")


# options that only say how JSON records are read, and what they do there
RECORD_OPTIONS = {"reset_per_record": "trains each JSON record from a zero state",
                  "record_separator": "joins JSON records", "unescape_html": "decodes the "
                  "HTML entities of JSON records"}


def typed(ctx, names) -> list[str]:
    """Those of `names` given on the command line."""
    return [n for n in names
            if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE]


def _check_record_options(text: str, json_field: str | None, given: list[str]) -> None:
    """Refuse a given record option (RECORD_OPTIONS) on plain text, where it would do nothing
    (or, for --reset-per-record, only cut the text's last chunk short), as options the run's
    cell or optimizer never reads are refused."""
    from .data import is_json_input

    if is_json_input(text, json_field):
        return
    for name in given:
        raise FastrnnError(f"{option_name(name)} {RECORD_OPTIONS[name]}; {text} is read as "
                           "plain text (a .json file, or --json-field FIELD, is read as records)")


def _check_applicable(ctx, cfg, opts, resumed: bool = False) -> None:
    """Refuse a typed option that the run's optimizer or cell never reads (config.inapplicable)."""
    problem = inapplicable(cfg, typed(ctx, opts), resumed)
    if problem:
        raise FastrnnError(problem)


@cli.command(context_settings=CONTEXT)
@click.argument("text")
@click.option("--out", "-o", default=None,
              help="Checkpoint file to write [default: ckpt.h5, or the --resume file].")
@overwrite_option("the --out file")
@click.option("--resume", default=None,
              help="Continue the run saved in this checkpoint (exactly where it stopped); "
                   "--epochs/--max-updates stay totals of the whole run.")
@click.option("--epochs", type=click.IntRange(min=1), default=_T.epochs,
              help="Total epochs of the run (counted from its start, also on --resume).")
@click.option("--max-updates", type=click.IntRange(min=0), default=_T.max_updates,
              help="Stop after this many updates in total (0 = no limit).")
@click.option("--hidden", "-m", type=click.IntRange(min=1), default=_T.hidden,
              help="Hidden units m.")
@click.option("--seq-length", type=click.IntRange(min=1), default=_T.seq_length,
              help="Characters per chunk (tau).")
@click.option("--eta", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate [default: 0.1 with adagrad, 0.002 with rmsprop or adam].")
@click.option("--sig", type=click.FloatRange(min=0, min_open=True), default=_T.sig,
              help="Std of the initial weights.")
@click.option("--clip", type=click.FloatRange(min=0, min_open=True), default=_T.clip,
              help="Clip every gradient element to [-clip, clip].")
@click.option("--seed", type=int, default=_T.seed, help="Seed of the weights and samples.")
@click.option("--dtype", type=click.Choice(DTYPES), default=_T.dtype,
              help="Arithmetic precision.")
@click.option("--sample-every", type=click.IntRange(min=0), default=_T.sample_every,
              help="Print a sample every N updates and at update 0 (0 = never).")
@click.option("--sample-length", type=click.IntRange(min=0), default=_T.sample_length,
              help="Characters per progress sample.")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=_T.checkpoint_every,
              help="Write the checkpoint every N updates (always at the end).")
@click.option("--val-frac", type=click.FloatRange(0, 1, max_open=True), default=_T.val_frac,
              help="Hold out this final fraction of the text for validation.")
@click.option("--eval-every", type=click.IntRange(min=1), default=_T.eval_every,
              help="Validation loss every N updates (with --val-frac).")
@encoding_option
@json_field_option
@click.option("--reset-per-record", is_flag=True,
              help="JSON: train records as separate documents (hidden state reset at each, "
                   "an end-of-record symbol learned at each end); default is to join them "
                   "with --record-separator.")
@click.option("--record-separator", default=_T.record_separator, show_default=False,
              callback=lambda ctx, param, value: unescape_separator(value),
              help="Joins JSON records into one text; \\n, \\t, \\r and \\\\ are read "
                   "as escapes [default: "
                   + _T.record_separator.encode("unicode_escape").decode("ascii") + "].")
@unescape_html_option
@click.option("--keep-newlines", is_flag=True, default=_T.keep_newlines,
              help="Keep \\r and \\r\\n as they are (default: both become \\n, as in "
                   "Python's text mode).")
@click.option("--cell", type=click.Choice(CELLS), default=_T.cell,
              help="Recurrent cell: DD2424's vanilla tanh RNN, or an LSTM / GRU (PyTorch's "
                   "formulations; docs/models.md).")
@click.option("--layers", type=click.IntRange(1, 16), default=_T.layers,
              help="Stacked layers (layer l's h is layer l+1's input).")
@click.option("--batch", "-B", type=click.IntRange(min=1), default=_T.batch,
              help="Parallel streams: the text is cut into B strips read side by side; one "
                   "update per B x seq-length characters (char-rnn's minibatch).")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=_T.optimizer,
              help="adagrad (DD2424), rmsprop (char-rnn's) or adam (torch.optim.Adam).")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=_T.dropout,
              help="Dropout on the inputs of layers >= 2 and of the output layer (training "
                   "only).")
@click.option("--alpha", type=float, default=_T.alpha, help="RMSprop's decay.")
@click.option("--beta1", type=float, default=_T.beta1, help="Adam's first-moment decay.")
@click.option("--beta2", type=float, default=_T.beta2, help="Adam's second-moment decay.")
@click.option("--eta-decay", type=float, default=_T.eta_decay,
              help="Multiply eta by this at the end of every epoch from --decay-after on "
                   "(char-rnn's schedule; 1 = constant).")
@click.option("--decay-after", type=click.IntRange(min=1), default=_T.decay_after,
              help="The first epoch whose end decays eta.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Compute threads for --batch >= 2 [default: the cores this process may "
                   "use]; results do not depend on it.")
@click.option("--log-every", type=click.FloatRange(min=0), default=10.0,
              help="When stderr is not a terminal: seconds between progress lines "
                   "(0 = every progress report).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display and no samples.")
@click.pass_context
def train(ctx, text, out, overwrite, resume, quiet, encoding, json_field, log_every, threads,
          **opts):
    """Train on TEXT (UTF-8 text or JSON records) and write a checkpoint.

    By default the algorithm is DD2424 Assignment 4 / min-char-rnn exactly: a vanilla RNN,
    AdaGrad on seq-length chunks, hidden state carried within an epoch, smooth loss, best model
    kept. --cell, --layers, --batch, --optimizer and --dropout go beyond it (docs/models.md).
    Ctrl-C stops cleanly with a checkpoint that --resume continues bit-identically.
    """
    from . import checkpoint
    from .config import DEFAULT_ETA, check_memory, merge_resumed
    from .data import split_validation
    from .nettrain import plan_chars_per_update, run_schedule, schedule_updates
    from .progress import Progress, Silent
    from .runlock import RunLock
    from .runstate import DivergenceError, planned_updates
    from .train import new_state, train as run, warmup

    if out is None:
        out = resume or "ckpt.h5"
    opts["unescape_html"] = bool(opts["unescape_html"])
    if resume:
        state = checkpoint.load_state(resume)
        given = {name: opts[name] for name in typed(ctx, opts)}
        changes = []
        cfg = state.config = merge_resumed(state.config, given, state.update, "checkpoint",
                                           changes)
        _check_applicable(ctx, cfg, opts, resumed=True)
        if json_field is None and state.json_field:     # the records' field it trained on
            json_field = state.json_field
    else:
        if opts["eta"] is None:
            opts["eta"] = DEFAULT_ETA[opts["optimizer"]]
        cfg = TrainConfig(**opts)
        _check_applicable(ctx, cfg, opts)
    # the input is checked before the output: `train nosuch.txt` is about nosuch.txt
    corpus = read_input(text, encoding=encoding, json_field=json_field, config=cfg)
    _check_record_options(text, json_field, typed(ctx, RECORD_OPTIONS))
    train_corpus, val = split_validation(corpus, cfg.val_frac, cfg.seq_length,
                                         state.corpus_chars if resume else None)
    schedule = run_schedule(train_corpus, cfg)
    _check_out(out, overwrite, resume, text)
    # one writer per checkpoint for the whole run: released when the command's context closes
    ctx.call_on_close(RunLock(out).acquire().release)
    plan_chars_per_update(schedule, cfg)
    if resume:
        _check_same_text(train_corpus, state, resume)
        per_epoch = schedule_updates(schedule)
        total = planned_updates(per_epoch, cfg)
        if state.update >= total:
            # name only the limits that stop it (the run may have epochs left, or not)
            raise_ = []
            if state.update >= cfg.epochs * per_epoch:
                raise_.append(f"--epochs {state.update // per_epoch + 1}")
            if cfg.max_updates and state.update >= cfg.max_updates:
                raise_.append(f"--max-updates {state.update + per_epoch}")
            click.echo(f"{resume} already finished its run: {state.update:,} updates "
                       f"({state.epoch} epoch{'' if state.epoch == 1 else 's'}); to train on, "
                       f"raise the total, e.g. {' '.join(raise_)}", err=True)
            return
        # said (and kept in the run's history) only when the run goes on with them
        for update, name, old, new in changes:
            click.echo(f"{name} {old:g} -> {new:g} from update {update:,}", err=True)
        state.changes.extend(changes)
    else:
        check_memory(len(train_corpus.vocab), cfg)
        state = new_state(train_corpus, cfg)
    progress = Silent() if quiet else Progress(log_every=log_every)
    callbacks = CheckpointingCallbacks(out, progress,
                                       saved=(resume, state.update) if resume else None)
    progress.message(f"compiling kernels ({cfg.dtype}, cached after the first run)...")
    t0 = time.perf_counter()
    warmup(cfg.dtype, validation=val is not None, ids_dtype=train_corpus.ids.dtype, config=cfg)
    progress.message(f"ready in {time.perf_counter() - t0:.1f} s")

    def on_signal(signum, frame):
        callbacks.signal = signum

    # From here on SIGINT/SIGTERM/SIGHUP only raise a flag: the current block of updates
    # finishes (runstate.BLOCK_SECONDS), the checkpoint is written, and we exit 128 + signum.
    # SIGHUP is a closed terminal: the work since the last checkpoint is saved all the same.
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        u0, w0 = state.update, state.wall_time
        try:
            run(state, train_corpus, callbacks=callbacks, val=val,
                threads=threads or len(os.sched_getaffinity(0)))
        except DivergenceError as exc:
            callbacks.close()
            raise FastrnnError(f"{exc}{callbacks.kept()}") from None
        callbacks.close()
        callbacks.on_checkpoint(state)
    finally:
        callbacks.close()
        for s, handler in old.items():
            signal.signal(s, handler)
    if state.interrupted:
        name = signal.Signals(callbacks.signal).name
        again = " ".join(shlex.quote(a) for a in _resume_command(text, out, encoding, json_field))
        try:      # after SIGHUP the terminal may be gone; the checkpoint is what matters
            click.echo(f"{name}: stopped after update {state.update:,}; checkpoint written to "
                       f"{out}; continue with: {again}", err=True)
        except OSError:
            pass
        sys.exit(128 + callbacks.signal)
    secs = state.wall_time - w0
    from .runinfo import chars_trained_per_update

    speed = chars_trained_per_update(cfg) * (state.update - u0) / max(secs, 1e-9)
    epochs = f"{state.epoch} epoch{'' if state.epoch == 1 else 's'}"
    val_text = (f"; val loss {state.val_history[-1][1]:.4f} nats/char"
                if state.val_history else "")
    progress.message(f"done: {state.update:,} updates ({epochs}) in {secs:.1f} s, "
                     f"{speed:,.0f} chars/s; smooth loss {state.smooth_loss:.3f}, best "
                     f"{state.best_smooth:.3f} at update {state.best_update:,}{val_text}; "
                     f"checkpoint: {out}")


def _check_same_text(corpus, state, resume: str) -> None:
    """--resume needs the text the checkpoint was trained on: same vocabulary and length."""
    if corpus.vocab != state.vocab:
        new = "".join(sorted(set(corpus.vocab) - set(state.vocab)))
        gone = "".join(sorted(set(state.vocab) - set(corpus.vocab)))
        detail = "; ".join(part for part in (
            f"not in the checkpoint: {', '.join(map(repr, new[:10]))}" if new else "",
            f"missing from TEXT: {', '.join(map(repr, gone[:10]))}" if gone else "") if part)
        raise FastrnnError(f"TEXT's vocabulary differs from the checkpoint's ({resume}): "
                           f"expected {len(state.vocab)} characters, got {len(corpus.vocab)} "
                           f"({detail})")
    if corpus.n_chars != state.corpus_chars:
        raise FastrnnError(f"TEXT is not the text {resume} was trained on: expected "
                           f"{state.corpus_chars:,} training characters, got {corpus.n_chars:,}")
    if state.corpus_digest and corpus.digest() != state.corpus_digest:
        raise FastrnnError(f"TEXT is not the text {resume} was trained on: as long "
                           f"({corpus.n_chars:,} training characters) and with the same "
                           "vocabulary, but other characters")


def _resume_command(text: str, out: str, encoding: str, json_field: str | None) -> list:
    """The command that continues an interrupted run (the plan is in the checkpoint)."""
    cmd = ["fastrnn", "train", text, "--resume", out]
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        cmd += ["--encoding", encoding]
    if json_field is not None:
        cmd += ["--json-field", json_field]
    return cmd


# ----------------------------------------------------------------------------------- sample
@cli.command(context_settings=CONTEXT)
@checkpoint_argument
@click.option("-n", "n", type=int, default=_S.n,
              help="Characters to synthesise (with --records or --until: at most, each).")
@click.option("--records", type=click.IntRange(min=1), default=None,
              help="Print N whole records (tweets...) of a model trained with "
                   "--reset-per-record: each from a fresh state, each to its learned end.")
@click.option("--until", "until", default=None,
              help="Stop after the first occurrence of this string (printed).")
@click.option("--temperature", "-t", type=float, default=_S.temperature,
              help="Divide the logits by T; 0 = argmax (always the most likely character).")
@click.option("--top-p", type=float, default=_S.top_p,
              help="Nucleus sampling: draw from the smallest set of mass >= p, in (0, 1].")
@click.option("--prime", default=None,
              help="Warm the hidden state up on this text first (with --records: the start "
                   "of every record).")
@click.option("--skip-unknown", is_flag=True,
              help="Drop --prime characters outside the vocabulary (default: error).")
@click.option("--seed", type=int, default=_S.seed, help="Seed for a reproducible text.")
@best_option
def sample(checkpoint_path, n, records, until, temperature, top_p, prime, skip_unknown, seed,
           best):
    """Synthesise text from CHECKPOINT, streamed to stdout.

    By default -n characters continue from the model's saved hidden state. --records N
    prints N records, one per line, as a per-record model learned to start and end them.
    """
    from .trained import load, used_prime

    SampleConfig(n=n, temperature=temperature, top_p=top_p, seed=seed)   # validates
    if until == "":
        raise FastrnnError("--until needs a non-empty string")
    model = load(checkpoint_path, "best" if best else "latest")
    if records is not None:
        _sample_records(model, checkpoint_path, records, n, until, temperature, top_p, prime,
                        skip_unknown, seed)
        return
    # the prime as the model reads it (fastrnn.trained.primed_ids), then what it draws
    _echo_stream(_cut_at(model.stream(n, temperature=temperature, top_p=top_p, prime=prime,
                                      seed=seed, skip_unknown=skip_unknown), until),
                 used_prime(prime, model.vocab) if prime else None)


def _sample_records(model, path, count, max_chars, until, temperature, top_p, prime,
                    skip_unknown, seed):
    """`sample --records N`: whole records, one per line (a model of either engine)."""
    import numpy as np

    from .data import END_OF_RECORD, encode, trained_per_record
    from .sample import stream_records
    from .trained import NetModel, used_prime

    if not trained_per_record(model.config, model.vocab):
        raise FastrnnError(f"{path} was not trained with end-of-record symbols (train JSON "
                           "records with --reset-per-record); use -n or --until instead")
    if until is not None:
        raise FastrnnError("--records ends each record at its learned end; drop --until")
    prime_ids = encode(prime, model.vocab, skip_unknown=skip_unknown) if prime else None
    rng = np.random.default_rng(seed)
    current = -1
    if isinstance(model, NetModel):
        pieces = model.stream_records(count, max_chars, rng, temperature, top_p, prime_ids)
    else:
        pieces = stream_records(model.params, model.vocab, END_OF_RECORD, count, max_chars,
                                rng, temperature, top_p, prime_ids)
    for r, piece in pieces:
        if r != current:           # a record starts: end the previous line, print the prime
            click.echo(("\n" if r else "") + used_prime(prime or "", model.vocab), nl=False)
            current = r
        click.echo(piece, nl=False)
    click.echo()


# -------------------------------------------------------------------------------- gradcheck
@cli.command(context_settings=CONTEXT)
@click.argument("text", default="builtin:python-docs")
@click.option("--hidden", "-m", type=click.IntRange(min=1), default=_G.hidden,
              help="Hidden units of the checked model.")
@click.option("--seq-length", type=click.IntRange(min=1), default=_G.seq_length,
              help="Chunk length checked.")
@click.option("--step", type=click.FloatRange(min=0, min_open=True), default=_G.step,
              help="h of the central difference.")
@click.option("--threshold", type=click.FloatRange(min=0, min_open=True),
              default=_G.threshold, help="Fail (exit 1) if any max relative error exceeds it.")
@click.option("--seed", type=int, default=_G.seed, help="Seed of the checked weights.")
@click.option("--numeric-precision", type=click.Choice(["extended", "float64"]),
              default="extended",
              help="Precision of the numerical loss; extended keeps roundoff out of the check.")
@click.option("--cell", type=click.Choice(CELLS), default="rnn", help="Cell of the checked model.")
@click.option("--layers", type=click.IntRange(1, 16), default=1, help="Stacked layers.")
@click.option("--batch", "-B", type=click.IntRange(min=1), default=1,
              help="Parallel streams of the checked chunk.")
@json_field_option
@click.option("--sig", type=click.FloatRange(min=0, min_open=True), default=_G.sig,
              help="Std of the checked course model's N(0, sig^2) weights.")
@click.option("--random-state", is_flag=True,
              help="Start the course model's chunk from a random h0 (tanh of N(0, 1) draws) "
                   "instead of 0: with a larger --sig (0.1) the check reaches the carried "
                   "state and the whole chunk's back-propagation.")
@encoding_option
@click.pass_context
def gradcheck(ctx, text, hidden, seq_length, step, threshold, seed, numeric_precision, cell,
              layers, batch, json_field, sig, random_state, encoding):
    """Analytic vs numerical gradients on a small float64 model, as a per-parameter table.

    TEXT defaults to the built-in offline corpus; its first seq-length+1 characters are the
    chunk checked (with --batch B: the first chunk of each of B strips of its first
    B x (seq-length+1) characters). Any --cell/--layers/--batch other than the course's checks
    the general engine, every tensor named per layer.
    """
    import numpy as np

    from .gradcheck import error_text, format_table, gradcheck as check, row_passes, worst_row

    cfg = GradcheckConfig(hidden=hidden, seq_length=seq_length, step=step,
                          threshold=threshold, seed=seed, sig=sig, random_state=random_state)
    course = (cell, layers, batch) == ("rnn", 1, 1)
    for name in typed(ctx, ("sig", "random_state")):
        if not course:
            raise FastrnnError(f"{option_name(name)} is the course model's: the check of "
                               f"--cell/--layers/--batch draws the cell's own weights and "
                               "always starts from random states")
    corpus = read_input(text, encoding=encoding, json_field=json_field)
    need = batch * (seq_length + 1)
    if corpus.n_chars < need:
        raise FastrnnError(f"TEXT has {corpus.n_chars} characters; the check needs "
                           f"batch x (seq-length+1) = {need}")
    # a step too small (or large) for the loss makes differences of 0/0 or inf: NaN rows,
    # which fail the check; numpy's warnings about them say nothing more
    quiet = np.errstate(invalid="ignore", divide="ignore", over="ignore")
    if course:
        dtype = np.longdouble if numeric_precision == "extended" else np.float64
        with quiet:
            rows = check(corpus.ids, len(corpus.vocab), cfg, numeric_dtype=dtype)
        model = ((f"sig={sig:g}, " if sig != _G.sig else "")
                 + ("random h0, " if random_state else ""))
    else:
        from .netcheck import check_network

        if numeric_precision != "extended":
            raise FastrnnError("--numeric-precision float64 applies to the vanilla check only")
        with quiet:
            rows = check_network(cell, vocab_size=len(corpus.vocab), hidden=hidden,
                                 layers=layers, streams=batch, seq_length=seq_length, step=step,
                                 eps=cfg.eps, seed=seed,
                                 ids=np.ascontiguousarray(corpus.ids[:need], np.int32))
        model = f"{cell}, {layers} layer{'s' if layers > 1 else ''}, {batch} stream" + \
            ("s" if batch > 1 else "") + ", "
    click.echo(f"gradient check on {corpus.name} (its first {need} characters): "
               f"{model}m={hidden}, seq-length={seq_length}, h={step:g}, K={len(corpus.vocab)}, "
               f"numerical loss in {numeric_precision}")
    click.echo(format_table(rows, threshold))
    worst = worst_row(rows)
    if not row_passes(worst, threshold):
        click.echo(f"FAILED: max relative error {error_text(worst.max_error, threshold)} in "
                   f"{worst.name} exceeds {threshold:g}", err=True)
        sys.exit(1)
    click.echo(f"passed: every max relative error <= {threshold:g}")


# ------------------------------------------- looking at a run: info, evolution, eval, plot, report
_P, _R = PlotConfig(), ReportConfig()


@cli.command(context_settings=CONTEXT)
@checkpoint_argument
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(checkpoint_path, as_json):
    """Summarise CHECKPOINT: config, corpus, K, updates, epochs, smooth loss (latest and best,
    per chunk and per character in nats and bits), validation loss, wall time, versions."""
    import json

    from .checkpoint import load_state
    from .runinfo import format_info, summary

    s = summary(load_state(checkpoint_path), checkpoint_path)
    click.echo(json.dumps(s, indent=2, ensure_ascii=False) if as_json else format_info(s))


def until_option(default: int, what: str):
    return click.option("--until", type=click.IntRange(min=0), default=default,
                        help=f"Only the samples up to update N{what} (0 = to the end).")


def every_option(default: int):
    return click.option("--every", type=click.IntRange(min=0), default=default,
                        help="Only the samples at multiples of N updates (0 = every logged "
                             "sample).")


@cli.command(context_settings=CONTEXT)
@checkpoint_argument
@every_option(0)
@until_option(0, "")
def evolution(checkpoint_path, every, until):
    """The text evolution of CHECKPOINT's run: each sample logged during training, with its
    update number and smooth loss."""
    from .checkpoint import load_state
    from .runinfo import format_evolution

    click.echo(format_evolution(load_state(checkpoint_path), every, until))


@cli.command("eval", context_settings=CONTEXT)
@checkpoint_argument
@click.argument("text")
@best_option
@encoding_option
@json_field_option
@unescape_html_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def eval_cmd(checkpoint_path, text, best, encoding, json_field, unescape_html, as_json):
    """Loss per character (nats, bits) and perplexity of TEXT under CHECKPOINT's model.

    TEXT is a file, '-' for stdin, or 'builtin:python-docs'. The hidden state starts at zero
    at the start of TEXT (and of each record, for a per-record model) and is carried through
    the rest. Characters outside the model's vocabulary cannot be predicted: they are
    skipped, counted and reported.
    """
    import json

    from .data import records_field
    from .evaluate import format_eval, read_documents
    from .trained import load

    model = load(checkpoint_path, "best" if best else "latest")
    state = model.state
    json_field = records_field(text, json_field, state)
    _check_record_options(text, json_field, ["unescape_html"] if unescape_html else [])
    name, docs = read_documents(text, encoding=encoding, json_field=json_field,
                                config=state.config, unescape_html=unescape_html)
    result = model.evaluate_documents(docs)
    if best and state.best_update >= 0:
        desc = (f"best of {checkpoint_path} (update {state.best_update:,}, smooth loss "
                f"{state.best_smooth:.3f}), K={len(model.vocab)}")
    else:
        desc = f"latest of {checkpoint_path} (update {state.update:,}), K={len(model.vocab)}"
    if as_json:
        click.echo(json.dumps({"text": name, "model": desc, "chars": result.n_chars,
                               "predictions": result.predictions,
                               "unknown_chars": result.n_unknown, "unknown": result.unknown,
                               "nats_per_char": result.nats, "bits_per_char": result.bits,
                               # JSON has no infinity: a diverged model's perplexity is null
                               "perplexity": (result.perplexity
                                              if math.isfinite(result.perplexity) else None)},
                              indent=2, ensure_ascii=False))
    else:
        click.echo(format_eval(result, name, desc))


@cli.command(context_settings=CONTEXT)
@checkpoint_argument
@click.option("--out", "-o", default="loss.png", help="Image to write (.png, .pdf or .svg).")
@overwrite_option("the --out file")
@click.option("--width", type=click.IntRange(min=200, max=20000), default=_P.width,
              help="Image width in pixels.")
@click.option("--height", type=click.IntRange(min=150, max=20000), default=_P.height,
              help="Image height in pixels.")
@click.option("--dpi", type=click.IntRange(min=20, max=1000), default=_P.dpi,
              help="Dots per inch: the larger, the larger the text relative to the image.")
@click.option("--log-y", is_flag=True, help="Logarithmic loss axis (for runs that overfit).")
def plot(checkpoint_path, out, overwrite, width, height, dpi, log_y):
    """Plot CHECKPOINT's loss of every update and smooth loss, with the epoch boundaries, the
    best point and the validation loss (when the run held text out)."""
    from .checkpoint import load_state
    from .plot import check_image_path, save_loss_plot

    check_image_path(out, overwrite)
    cramped = save_loss_plot(load_state(checkpoint_path), out, overwrite=overwrite,
                             width=width, height=height, dpi=dpi, log_y=log_y)
    click.echo(f"wrote {out} ({width}x{height})")
    if cramped:
        click.echo(f"note: the text does not fit {width}x{height} pixels at --dpi {dpi}; lower "
                   "--dpi or raise --width / --height", err=True)


@cli.command(context_settings=CONTEXT)
@checkpoint_argument
@click.argument("text", required=False)
@click.option("--out", "-o", default="report",
              help="Directory for report.md and loss.png (created if missing).")
@overwrite_option("report.md and loss.png in that directory")
@click.option("--sample-length", "-n", type=click.IntRange(min=1), default=_R.sample_length,
              help="Characters drawn from the best model.")
@click.option("--seed", type=int, default=_R.seed,
              help="Seed of that sample (fixed, so that the report is reproducible).")
@click.option("--temperature", "-t", type=click.FloatRange(min=0), default=_R.temperature,
              help="Temperature of that sample.")
@click.option("--gradcheck-hidden", type=click.IntRange(min=1), default=_R.gradcheck_hidden,
              help="Hidden units m of the gradient check.")
@every_option(_R.evolution_every)
@until_option(_R.evolution_until, " in the text evolution (the assignment's: the first "
                                  "100,000)")
@encoding_option
@json_field_option
def report(checkpoint_path, text, out, overwrite, sample_length, seed, temperature,
           gradcheck_hidden, every, until, encoding, json_field):
    """Write the DD2424 report of CHECKPOINT into a directory: report.md (hyper-parameters,
    gradient-check table, loss plot, validation, text evolution, a sample of the best model,
    timings) and loss.png.

    A checkpoint does not store its training text: give it as TEXT so that the gradient check
    runs on the same corpus (first seq-length+1 characters, m = --gradcheck-hidden). Without
    TEXT the check runs on the built-in corpus and the report says so.
    """
    from .report import ReportOptions, write_report

    ReportConfig(sample_length=sample_length, seed=seed, temperature=temperature,
                 gradcheck_hidden=gradcheck_hidden, evolution_every=every,
                 evolution_until=until)            # validates, before any file is written
    if not out.strip():
        raise FastrnnError("--out is empty; give the report's directory (e.g. -o report)")
    gc = GradcheckConfig(hidden=gradcheck_hidden)
    opts = ReportOptions(text=text, encoding=encoding, json_field=json_field,
                         sample_length=sample_length, seed=seed,
                         temperature=temperature, gradcheck=gc, evolution_every=every,
                         evolution_until=until)
    paths = write_report(checkpoint_path, out, opts, overwrite=overwrite,
                         log=lambda msg: click.echo(msg, err=True))
    click.echo("wrote " + ", ".join(paths))


from .sweep_cli import register as _register_sweep  # noqa: E402 -- needs the train command

_register_sweep(cli)   # fastrnn sweep, fastrnn sweep-report (fastrnn/sweep_cli.py)


def main():
    try:
        from .threads import pin_process

        pin_process()      # every command's BLAS runs on the engine's thread count
    except KeyboardInterrupt:      # Ctrl-C before the command starts (BLAS's first load)
        click.echo("Interrupted.", err=True)
        sys.exit(128 + signal.SIGINT)
    cli(prog_name="fastrnn")


if __name__ == "__main__":
    main()
