"""The `fastrnn` command: a click group whose commands parse, validate, call the library, print.

Library errors (FastrnnError) become one-line `Error: ...` messages with exit code 1 at this
boundary; usage errors are one line too (exit 2). Defaults come from fastrnn.config.
"""
from __future__ import annotations

import os
import signal
import sys
import time

import click

from .config import DTYPES, GradcheckConfig, SampleConfig, TrainConfig
from .errors import FastrnnError

_T, _S, _G = TrainConfig(), SampleConfig(), GradcheckConfig()
CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True}
BUILTIN_HELP = "TEXT may be 'builtin:python-docs': CPython's own documentation, always offline."
# options that only plan the run; any other hyper-parameter is fixed by a resumed checkpoint
RESUMABLE = ("epochs", "max_updates", "sample_every", "sample_length", "checkpoint_every",
             "eval_every")


class OneLineErrors(click.Group):
    """A group whose errors print as a single line, never a traceback or a usage block."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except FastrnnError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


def _corpus(text: str, **kw):
    from .data import BUILTIN_NAME, read_corpus

    return read_corpus(None if text == BUILTIN_NAME else text, **kw)


@click.group(cls=OneLineErrors, context_settings=CONTEXT)
@click.version_option(package_name="fastrnn")
def cli():
    """Train character-level vanilla RNNs on a CPU, fast and exactly (DD2424 / min-char-rnn)."""


# ------------------------------------------------------------------------------------ train
class _Printer:
    """Training callbacks of the CLI: progress bar, samples, checkpoints, stop on signals."""

    def __init__(self, out: str, quiet: bool):
        self.out, self.quiet = out, quiet
        self.bar = None
        self.signal = None
        self.last_draw = 0.0

    def on_start(self, state, total, per_epoch):
        self.per_epoch, self.total = per_epoch, total
        if not self.quiet:
            click.echo(f"training on {state.corpus_name}: {state.corpus_chars:,} chars, "
                       f"K={len(state.vocab)}, m={state.hidden}, {per_epoch:,} updates/epoch, "
                       f"{total:,} updates in all ({state.config.dtype})", err=True)
            self.bar = click.progressbar(length=total, file=sys.stderr, show_pos=True,
                                         show_eta=True, item_show_func=lambda s: s)
            self.bar.__enter__()
            self.bar.update(state.update)

    def on_progress(self, state, chars_per_sec):
        if self.bar is not None:
            info = (f"epoch {state.epoch + 1} smooth loss {state.smooth_loss:.2f} "
                    f"{chars_per_sec / 1000:.0f}k chars/s")
            if state.val_history:
                info += f" val {state.val_history[-1][1]:.3f}"
            self.bar.update(state.update - self.bar.pos, info)

    def on_sample(self, update, smooth, text):
        if not self.quiet:
            click.echo(f"\n--- update {update:,}, smooth loss {smooth:.3f}\n{text}\n---")

    def on_epoch_end(self, state):
        pass

    def on_eval(self, update, val_loss):
        pass

    def on_checkpoint(self, state):
        from .checkpoint import save

        save(state, self.out)

    def should_stop(self):
        return self.signal is not None

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _check_out(out: str, overwrite: bool, resume: str | None):
    if os.path.exists(out) and not overwrite and not (
            resume and os.path.abspath(resume) == os.path.abspath(out)):
        raise FastrnnError(f"{out} exists; pass --overwrite to replace it, or --resume {out}")
    if os.path.isdir(out):
        raise FastrnnError(f"--out {out} is a directory")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise FastrnnError(f"--out: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise FastrnnError(f"--out: directory {parent} is not writable")


@cli.command(context_settings=CONTEXT)
@click.argument("text")
@click.option("--out", "-o", default="ckpt.h5", help="Checkpoint file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--resume", type=click.Path(dir_okay=False), default=None,
              help="Continue the run saved in this checkpoint (exactly where it stopped).")
@click.option("--epochs", type=click.IntRange(min=1), default=_T.epochs,
              help="Total epochs of the run (counted from its start, also on --resume).")
@click.option("--max-updates", type=click.IntRange(min=0), default=_T.max_updates,
              help="Stop after this many updates in total (0 = no limit).")
@click.option("--hidden", "-m", type=click.IntRange(min=1), default=_T.hidden,
              help="Hidden units m.")
@click.option("--seq-length", type=click.IntRange(min=1), default=_T.seq_length,
              help="Characters per chunk (tau).")
@click.option("--eta", type=click.FloatRange(min=0, min_open=True), default=_T.eta,
              help="AdaGrad learning rate.")
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
@click.option("--encoding", default="utf-8", help="Text encoding of TEXT.")
@click.option("--json-field", default=None,
              help="TEXT is a JSON list of records; train on this field [.json: text].")
@click.option("--reset-per-record", is_flag=True,
              help="JSON: train records as separate documents (hidden state reset at each); "
                   "default is to join them with --record-separator.")
@click.option("--record-separator", default=_T.record_separator,
              help="Joins JSON records into one text.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no samples.")
@click.pass_context
def train(ctx, text, out, overwrite, resume, quiet, encoding, json_field, **opts):
    """Train on TEXT (UTF-8 text or JSON records) and write a checkpoint.

    The algorithm is DD2424 Assignment 4 / min-char-rnn exactly: AdaGrad on seq-length chunks,
    hidden state carried within an epoch, smooth loss, best model kept. Ctrl-C stops cleanly
    with a checkpoint that --resume continues bit-identically.
    """
    from . import checkpoint
    from .data import chunk_schedule, split_validation
    from .train import DivergenceError, new_state, train as run, warmup

    _check_out(out, overwrite, resume)
    if resume:
        state = checkpoint.load_state(resume)
        cfg = state.config
        for name, value in opts.items():
            given = ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
            if name in RESUMABLE:
                if given:
                    setattr(cfg, name, value)
            elif given and getattr(cfg, name) != value:
                raise FastrnnError(f"--{name.replace('_', '-')} cannot change on --resume "
                                   f"(checkpoint has {getattr(cfg, name)})")
    else:
        cfg = TrainConfig(**opts)
    corpus = _corpus(text, encoding=encoding, json_field=json_field,
                     reset_per_record=cfg.reset_per_record, separator=cfg.record_separator)
    train_corpus, val = split_validation(corpus, cfg.val_frac)
    chunk_schedule(train_corpus, cfg.seq_length, partial_tail=cfg.reset_per_record)  # validates
    if resume and train_corpus.vocab != state.vocab:
        raise FastrnnError("TEXT's vocabulary differs from the checkpoint's: expected "
                           f"{len(state.vocab)} characters, got {len(train_corpus.vocab)}")
    if not resume:
        state = new_state(train_corpus, cfg)
    printer = _Printer(out, quiet)
    if not quiet:
        click.echo(f"compiling kernels ({cfg.dtype}, cached after the first run)...", err=True)
    t0 = time.perf_counter()
    warmup(cfg.dtype)
    if not quiet:
        click.echo(f"ready in {time.perf_counter() - t0:.1f} s", err=True)

    def on_signal(signum, frame):
        printer.signal = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        u0, w0 = state.update, state.wall_time
        run(state, train_corpus, callbacks=printer, val=val)
    except DivergenceError:
        printer.close()
        raise
    finally:
        printer.close()
        for s, handler in old.items():
            signal.signal(s, handler)
    checkpoint.save(state, out)
    if state.interrupted:
        name = "SIGINT" if printer.signal == signal.SIGINT else "SIGTERM"
        click.echo(f"{name}: stopped after update {state.update:,}; checkpoint written to {out}; "
                   f"continue with: fastrnn train {text} --resume {out}", err=True)
        sys.exit(128 + printer.signal)
    if not quiet:
        secs = state.wall_time - w0
        speed = cfg.seq_length * (state.update - u0) / max(secs, 1e-9)
        click.echo(f"done: {state.update:,} updates ({state.epoch} epochs) in {secs:.1f} s, "
                   f"{speed:,.0f} chars/s; smooth loss {state.smooth_loss:.3f}, best "
                   f"{state.best_smooth:.3f} at update {state.best_update:,}; checkpoint: {out}",
                   err=True)


# ----------------------------------------------------------------------------------- sample
@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint_path", metavar="CHECKPOINT")
@click.option("-n", "n", type=int, default=_S.n, help="Characters to synthesise.")
@click.option("--temperature", "-t", type=float, default=_S.temperature,
              help="Divide the logits by T; 0 = argmax (always the most likely character).")
@click.option("--top-p", type=float, default=_S.top_p,
              help="Nucleus sampling: draw from the smallest set of mass >= p, in (0, 1].")
@click.option("--prime", default=None, help="Warm the hidden state up on this text first.")
@click.option("--skip-unknown", is_flag=True,
              help="Drop --prime characters outside the vocabulary (default: error).")
@click.option("--seed", type=int, default=_S.seed, help="Seed for a reproducible text.")
@click.option("--best/--latest", default=True,
              help="Sample the best model (lowest smooth loss) or the latest parameters.")
def sample(checkpoint_path, n, temperature, top_p, prime, skip_unknown, seed, best):
    """Synthesise text from CHECKPOINT, streamed to stdout."""
    from .checkpoint import load
    from .sample import check_options

    check_options(n, temperature, top_p)
    model = load(checkpoint_path, "best" if best else "latest")
    if prime:
        click.echo(prime, nl=False)
    for piece in model.stream(n, temperature=temperature, top_p=top_p, prime=prime, seed=seed,
                              skip_unknown=skip_unknown):
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
@click.option("--encoding", default="utf-8", help="Text encoding of TEXT.")
def gradcheck(text, hidden, seq_length, step, threshold, seed, numeric_precision, encoding):
    """Analytic vs numerical gradients on a small float64 model, as a per-parameter table.

    TEXT defaults to the built-in offline corpus; its first seq-length+1 characters are the
    chunk checked.
    """
    import numpy as np

    from .gradcheck import format_table, gradcheck as check

    corpus = _corpus(text, encoding=encoding)
    if corpus.n_chars < seq_length + 1:
        raise FastrnnError(f"TEXT has {corpus.n_chars} characters; the check needs "
                           f"seq-length+1 = {seq_length + 1}")
    cfg = GradcheckConfig(hidden=hidden, seq_length=seq_length, step=step,
                          threshold=threshold, seed=seed)
    dtype = np.longdouble if numeric_precision == "extended" else np.float64
    rows = check(corpus.ids, len(corpus.vocab), cfg, numeric_dtype=dtype)
    click.echo(f"gradient check: m={hidden}, seq-length={seq_length}, h={step:g}, "
               f"K={len(corpus.vocab)}, numerical loss in {numeric_precision}")
    click.echo(format_table(rows, threshold))
    worst = max(rows, key=lambda r: r.max_error)
    if worst.max_error > threshold:
        click.echo(f"FAILED: max relative error {worst.max_error:.3e} in {worst.name} "
                   f"exceeds {threshold:g}", err=True)
        sys.exit(1)
    click.echo(f"passed: every max relative error <= {threshold:g}")


def main():
    cli(prog_name="fastrnn")


if __name__ == "__main__":
    main()
