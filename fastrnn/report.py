"""The DD2424 Assignment 4 report of a checkpoint: report.md and its loss plot, in one directory.

Sections: data and hyper-parameters; the gradient check (m=5 by default, on the first
seq_length+1 characters of a given text, ideally the training corpus); the smooth-loss plot
with the loss at each epoch end and the validation loss; the text evolution (every logged
sample with its update and smooth loss); a long sample from the best model; timings.
Every number comes from the checkpoint or is computed here, nothing is typed by hand.
"""
from __future__ import annotations

import datetime
import os
import re
import shlex
import time

import numpy as np
from dataclasses import dataclass

from .config import GradcheckConfig, ReportConfig
from .errors import FastrnnError
from .evaluate import fixed, perplexity
from .runinfo import (CELL_NAMES, bits, chars_per_update, chars_trained_per_update,
                      checkpoint_fastrnn_version, duration, epoch_boundaries, epochs_done,
                      epochs_text, model_description, n_params, select_samples,
                      updates_per_epoch, validation_method)

_R = ReportConfig()
REPORT_NAME = "report.md"
PLOT_NAME = "loss.png"


@dataclass
class ReportOptions:
    """What `fastrnn report` can change."""

    text: str | None = None          # gradient-check corpus (None: built-in corpus, with a note)
    encoding: str = "utf-8"          # of text
    json_field: str | None = None    # of text as JSON records (None: the checkpoint's for a
                                     # .json text or the file trained on, else "text")
    sample_length: int = _R.sample_length   # characters drawn from the best model
    seed: int = _R.seed                     # seed of that sample: the report is reproducible
    temperature: float = _R.temperature     # of that sample
    gradcheck: GradcheckConfig | None = None  # m, step, threshold (seq_length: the run's)
    evolution_every: int = _R.evolution_every   # text evolution: samples at multiples of this
    evolution_until: int = _R.evolution_until   # ... up to this update (0: all)


def check_out_dir(out: str, overwrite: bool) -> None:
    """One-line errors for a report directory that cannot or must not be written (nothing is
    created here: a failed report leaves no empty directory behind)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise FastrnnError(f"-o {out} is a file, not a directory")
    existing = [n for n in (REPORT_NAME, PLOT_NAME) if os.path.exists(os.path.join(out, n))]
    if existing and not overwrite:
        raise FastrnnError(f"{out} already holds {', '.join(existing)}; pass --overwrite to "
                           "replace them")
    ancestor = os.path.abspath(out)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise FastrnnError(f"cannot create {out}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK):
        raise FastrnnError(f"cannot write into {out}: {ancestor} is not writable")


def _make_dir(out: str) -> None:
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise FastrnnError(f"cannot create {out}: {exc.strerror or exc}") from None


def fence(text: str) -> str:
    """text in a fenced code block whose fence no run of backticks inside can close."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    tick = "`" * max(3, max(runs, default=0) + 1)
    return f"{tick}text\n{text}\n{tick}"


def _md_table(header: list[str], rows: list[list[str]], numeric: bool = True) -> str:
    """A markdown table; columns after the first are right-aligned when numeric."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i and numeric else "---" for i in range(len(header)))
             + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _gradcheck_section(state, opts: ReportOptions, log) -> tuple[str, float]:
    from .data import BUILTIN_NAME, read_input, records_field
    from .gradcheck import error_text, gradcheck, row_passes, worst_row

    base = opts.gradcheck or GradcheckConfig()
    cfg = GradcheckConfig(**{**base.__dict__, "seq_length": state.config.seq_length})
    # TEXT read as the run read it: JSON records as records (joined or one per document, with
    # the run's separator, entities and newlines), so its vocabulary is the checkpoint's
    text = opts.text or BUILTIN_NAME
    corpus = read_input(text, encoding=opts.encoding, config=state.config,
                        json_field=records_field(text, opts.json_field, state))  # as eval
    if corpus.n_chars < cfg.seq_length + 1:
        raise FastrnnError(f"the gradient-check text has {corpus.n_chars} characters; the "
                           f"check needs seq-length+1 = {cfg.seq_length + 1}")
    log(f"gradient check: m={cfg.hidden}, seq-length={cfg.seq_length} on {corpus.name} ...")
    t0 = time.perf_counter()
    run_cfg = state.config
    from .nettrain import uses_network

    if uses_network(run_cfg):      # the run's own cell and layers, up to 3 streams
        from .netcheck import check_network

        B = min(run_cfg.batch, 3)
        if corpus.n_chars < B * (cfg.seq_length + 1):
            raise FastrnnError(f"the gradient-check text has {corpus.n_chars} characters; the "
                               f"check needs {B} x (seq-length+1) = {B * (cfg.seq_length + 1)}")
        rows = check_network(run_cfg.cell, vocab_size=len(corpus.vocab), hidden=cfg.hidden,
                             layers=run_cfg.layers, streams=B, seq_length=cfg.seq_length,
                             step=cfg.step, eps=cfg.eps, seed=cfg.seed,
                             ids=np.ascontiguousarray(corpus.ids[:B * (cfg.seq_length + 1)],
                                                      np.int32))
    else:
        rows = gradcheck(corpus.ids, len(corpus.vocab), cfg)
    secs = time.perf_counter() - t0
    if opts.text is None or opts.text == BUILTIN_NAME:
        note = (f"\n> **Note.** The checkpoint does not store its training text, and no text "
                f"was given to `fastrnn report`, so the check ran on the built-in corpus "
                f"(`{BUILTIN_NAME}`, K={len(corpus.vocab)}) instead of {state.corpus_name}. "
                f"The check tests the gradient code, which does not depend on the text; to "
                f"check on the training corpus run `fastrnn report CHECKPOINT TEXT`.\n")
    elif corpus.vocab != state.vocab:
        note = (f"\n> **Note.** {corpus.name} has a vocabulary of K={len(corpus.vocab)} "
                f"characters, the checkpoint's has K={len(state.vocab)}: it is probably not "
                f"the text the model was trained on.\n")
    else:
        note = ""
    worst = worst_row(rows)
    verdict = ("**passed**: every maximum relative error is at most "
               f"{cfg.threshold:g}" if row_passes(worst, cfg.threshold) else
               f"**FAILED**: the maximum relative error of {worst.name} is "
               f"{error_text(worst.max_error, cfg.threshold)} > {cfg.threshold:g}")
    table = _md_table(["parameter", "shape", "max relative error", "mean relative error"],
                      [[f"`{r.name}`", "\u00d7".join(map(str, r.shape)), f"{r.max_error:.3e}",
                        f"{r.mean_error:.3e}"] for r in rows])
    if uses_network(run_cfg):
        start = ("weights drawn as the run's cell draws them"
                 + (" (N(0, 0.01²))" if run_cfg.cell == "rnn" else " (U(−1/√m, 1/√m))")
                 + ", random initial states (h₀ = tanh of N(0, 1) draws"
                 + (", c₀ ~ N(0, 1)" if run_cfg.cell == "lstm" else "") + ")")
        model = (f"a {run_cfg.layers}-layer {CELL_NAMES[run_cfg.cell]} like the run's, {B} "
                 f"stream{'s' if B > 1 else ''}"
                 + (f" (the run has {run_cfg.batch}; three show the streams' sums)"
                    if run_cfg.batch > B else ""))
        chunk = (f"one chunk of τ = {cfg.seq_length} characters per stream (the first "
                 f"{B * (cfg.seq_length + 1)} of {corpus.name}, cut in {B} strips)" if B > 1
                 else f"one chunk of τ = {cfg.seq_length} characters (the first "
                      f"{cfg.seq_length + 1} of {corpus.name})")
    else:
        start = f"weights ~ N(0, {cfg.sig:g}²), h₀ = 0"
        model = "the course's RNN"
        chunk = (f"one chunk of τ = {cfg.seq_length} characters (the first "
                 f"{cfg.seq_length + 1} of {corpus.name})")
    return (f"""## 2. Gradient check

Analytic gradients (the compiled BPTT kernels) against central differences
(L(θ+h) − L(θ−h)) / 2h of an independent NumPy forward pass, for every element of every
parameter of a small float64 model, {model}: m = {cfg.hidden}, K = {len(corpus.vocab)},
{chunk}, h = {cfg.step:g}, {start}. Relative error
|g_a − g_n| / max({cfg.eps:g}, |g_a| + |g_n|).
{note}
{table}

Result: {verdict} ({secs:.1f} s).
""", secs)


def _loss_section(state, per: int | None) -> str:
    tau = chars_per_update(state.config)
    sm = state.smooth_history
    rows = [["0 (first chunk)", fixed(sm[0], 3), fixed(sm[0] / tau, 4),
             fixed(bits(sm[0] / tau), 4)]]
    ends = epoch_boundaries(state) + [state.update]
    for i, u in enumerate(ends):
        label = (f"end of epoch {i + 1} ({u:,})" if per and u % per == 0 and u // per == i + 1
                 else f"last ({u:,})")
        rows.append([label, fixed(sm[u - 1], 3), fixed(sm[u - 1] / tau, 4),
                     fixed(bits(sm[u - 1] / tau), 4)])
    if state.best_update >= 0:
        b = state.best_smooth
        rows.append([f"**best** ({state.best_update:,})", fixed(b, 3), fixed(b / tau, 4),
                     fixed(bits(b / tau), 4)])
    text = f"""## 3. Training loss

![Loss per update, smooth loss, epoch boundaries, best point and validation loss]({PLOT_NAME})

The faint curve is the loss of each update (summed over its chunk), the bold one the smooth
loss 0.999·smooth + 0.001·L; dotted verticals mark epoch boundaries and the star the best
model (lowest smooth loss). The right axis and the per-character columns divide by the
{tau:g} characters an update predicts{"" if tau == state.config.seq_length else
" on average (records end in shorter chunks)"}.

{_md_table(["update", "smooth loss", "nats/char", "bits/char"], rows)}
"""
    if state.val_history:
        vrows = [[f"{u:,}", fixed(v, 4), fixed(bits(v), 4), fixed(perplexity(v), 3)]
                 for u, v in state.val_history]
        u_best, v_best = min(state.val_history, key=lambda uv: uv[1])
        every = f"every {state.config.eval_every:,} updates"
        for at, name, old, _ in reversed(getattr(state, "changes", [])):
            if name == "eval_every":        # a --resume changed the schedule
                every = f"every {int(old):,} updates, from update {at:,} on {every}"
        text += f"""
### Validation

The last {state.config.val_frac:.1%} of the text was held out and never trained on; its mean
loss per character was measured {every}: the
{validation_method(state.config)}. Lowest: {fixed(v_best, 4)} nats/char
({fixed(bits(v_best), 4)} bits/char) at update {u_best:,}.

{_md_table(["update", "nats/char", "bits/char", "perplexity"], vrows)}
"""
    return text


def _evolution_section(state, opts: ReportOptions) -> str:
    tau = chars_per_update(state.config)
    samples = select_samples(state, opts.evolution_every, opts.evolution_until)
    if not samples:
        return ("## 4. Text evolution\n\nNo samples were logged during training "
                "(`--sample-every 0`)" + (" in the range chosen" if state.samples else "")
                + ".\n")
    rows = [[f"{u:,}", fixed(s, 3), fixed(s / tau, 4)] for u, s, _ in samples]
    blocks = "\n\n".join(f"**Update {u:,}**, smooth loss {fixed(s, 3)}:\n\n{fence(t)}"
                         for u, s, t in samples)
    n = len(samples[0][2])
    every = opts.evolution_every if opts.evolution_every > 0 else state.config.sample_every
    until = (f" up to update {opts.evolution_until:,}" if opts.evolution_until > 0 else "")
    left = len(state.samples) - len(samples)
    more = (f" {left} more samples of this run are not shown (`fastrnn evolution "
            f"CHECKPOINT` lists them all)." if left else "")
    return f"""## 4. Text evolution

{n} characters synthesised from the current model every {every:,} updates{until}
(and before the first), starting from the hidden state and the first character of the chunk
being trained on.{more}

{_md_table(["update", "smooth loss", "nats/char"], rows)}

{blocks}
"""


def _sample_section(path: str, state, opts: ReportOptions) -> tuple[str, float]:
    from .trained import load

    model = load(path, "best")
    t0 = time.perf_counter()
    text = model.sample(opts.sample_length, temperature=opts.temperature, seed=opts.seed)
    secs = time.perf_counter() - t0
    temp = f" -t {opts.temperature:g}" if opts.temperature != 1 else ""
    which = (f"the best model (update {state.best_update:,}, smooth loss "
             f"{fixed(state.best_smooth, 3)})" if state.best_update >= 0 else "the latest model")
    title = "the best model" if state.best_update >= 0 else "the latest model (no best yet)"
    return (f"""## 5. {opts.sample_length:,} characters from {title}

Synthesised from {which},
starting from its hidden state and the first character of the chunk of that update;
temperature {opts.temperature:g}, seed {opts.seed}
(`fastrnn sample {shlex.quote(path)} -n {opts.sample_length} --seed {opts.seed}{temp}`
draws the same text).

{fence(text)}
""", secs)


def _beyond(cfg) -> str:
    from .nettrain import uses_network

    return ", extended beyond the course's model (docs/models.md)" if uses_network(cfg) else ""


_OPTIMIZER_NAMES = {"adagrad": "AdaGrad", "rmsprop": "RMSprop", "adam": "Adam"}


def _model_text(cfg) -> str:
    """Section 1's description of the model and of how it is trained: the course's RNN, or for
    a run beyond the course what it trains, followed by the course's model for reference."""
    from .nettrain import uses_network

    reading = ("reads the text one record at a time, each ending in the end-of-record symbol ␞ "
               "(so the model learns where records end), in chunks of τ characters (a record's "
               "last chunk shorter), from the zero state at the start of every record"
               if cfg.reset_per_record else
               "reads the text in consecutive chunks of τ characters, carries the hidden state "
               "from chunk to chunk within an epoch")
    course = ("a vanilla RNN over one-hot characters: a_t = W h_{t−1} + U x_t + b, "
              "h_t = tanh(a_t), o_t = V h_t + c, p_t = softmax(o_t); the loss of a chunk is the "
              f"summed cross-entropy of its τ characters. Training {reading}, clips each "
              "gradient element and takes one AdaGrad step per chunk.")
    if not uses_network(cfg):
        return "The model is " + course
    cell = CELL_NAMES[cfg.cell]
    layers = (f"{cfg.layers} stacked {cell} layers of m = {cfg.hidden} units, layer l's hidden "
              "state feeding layer l+1," if cfg.layers > 1
              else f"one {cell} layer of m = {cfg.hidden} units")
    if cfg.reset_per_record:
        streams = (f"The {cfg.batch} streams take whole records, greedily in record order, "
                   "each record from the zero state (docs/models.md); one update per chunk of "
                   "every stream, from the loss summed over the valid steps and divided by "
                   f"{cfg.batch} (a stream whose record ends early is padded). "
                   if cfg.batch > 1 else
                   "It reads one record at a time, each from the zero state, in chunks of τ "
                   "characters (a record's last chunk shorter). ")
    elif cfg.batch > 1:
        streams = (f"The text is cut into {cfg.batch} strips read side by side, each stream "
                   "carrying its own state; one update per "
                   f"{cfg.batch} × τ characters, from the loss summed over time and averaged "
                   "over the streams. ")
    else:
        streams = ""
    return (f"This run trains {layers} in PyTorch's formulation of the cell (docs/models.md), "
            f"under a softmax output layer, with "
            f"{_OPTIMIZER_NAMES[cfg.optimizer]}. {streams}For reference, the course's model is "
            + course)


def _hyper_rows(state, per: int | None, held: str) -> list[list[str]]:
    """Section 1's table: the course's rows, then what a run beyond the course chose (cell,
    layers, streams, its optimizer's own settings, dropout, eta schedule), each named for
    what this run used (an LSTM trained with Adam has no AdaGrad ε)."""
    from .nettrain import uses_network

    cfg = state.config
    opt = _OPTIMIZER_NAMES[cfg.optimizer]
    network = uses_network(cfg)
    rows = [
        ["corpus", f"{state.corpus_name}: {state.corpus_chars:,} training characters{held}"],
        ["vocabulary size K", f"{len(state.vocab)}"],
    ]
    if network:
        rows += [["cell", CELL_NAMES[cfg.cell] + ("" if cfg.cell == "rnn"
                                                  else " (PyTorch's formulation)")],
                 ["layers", f"{cfg.layers}"],
                 ["parallel streams B", f"{cfg.batch}"]]
    rows += [
        ["hidden units m", f"{cfg.hidden}"],
        ["parameters" if network else "parameters (U, W, V, b, c)", f"{n_params(state):,}"],
        ["sequence length τ", f"{cfg.seq_length}"],
        [f"learning rate η ({opt})", f"{cfg.eta:g}"],
    ] + [
        # options a resumed run changed (`train --resume --eta ...`), as info shows them
        ["changed on --resume", f"{name} {old:g} -> {new:g} from update {update:,}"]
        for update, name, old, new in getattr(state, "changes", [])
    ]
    if cfg.optimizer == "rmsprop":
        rows.append(["RMSprop decay α", f"{cfg.alpha:g}"])
    elif cfg.optimizer == "adam":
        rows.append(["Adam decays β₁, β₂", f"{cfg.beta1:g}, {cfg.beta2:g}"])
    rows.append([f"{opt} ε", f"{cfg.eps:g}"])
    if cfg.eta_decay != 1.0:
        rows.append(["η decay", f"×{cfg.eta_decay:g} at the end of every epoch from epoch "
                                f"{cfg.decay_after}"])
    if network and cfg.dropout > 0:
        rows.append(["dropout", f"{cfg.dropout:g} (inputs of layers ≥ 2 and of the output "
                                "layer, training only)"])
    rows.append(["initial weights", f"N(0, σ²), σ = {cfg.sig:g}" if cfg.cell == "rnn" else
                 f"U(−1/√m, 1/√m) = ±{1 / cfg.hidden ** 0.5:.3g}, biases 0"])
    rows += [
        ["gradient clipping", f"[−{cfg.clip:g}, {cfg.clip:g}]"],
        ["seed", f"{cfg.seed}"],
        ["precision", cfg.dtype],
        ["updates", f"{state.update:,}" + (f" ({per:,} per epoch)" if per else "")],
        ["epochs", epochs_text(epochs_done(state))],
    ]
    return rows


def write_report(path: str, out: str, opts: ReportOptions | None = None, *,
                 overwrite: bool = False, log=lambda msg: None) -> list[str]:
    """Write out/report.md and out/loss.png for the checkpoint at path; return their paths."""
    from . import __version__
    from .checkpoint import load_state
    from .plot import save_loss_plot

    opts = opts or ReportOptions()
    state = load_state(path)
    if state.update == 0:
        raise FastrnnError(f"{path} has no training history (0 updates): nothing to report")
    check_out_dir(out, overwrite)
    cfg = state.config
    per = updates_per_epoch(state)
    gc_text, gc_secs = _gradcheck_section(state, opts, log)
    _make_dir(out)
    log("loss plot ...")
    plot_path = os.path.join(out, PLOT_NAME)
    save_loss_plot(state, plot_path, overwrite=True)
    log(f"sampling {opts.sample_length} characters from the "
        f"{'best' if state.best_update >= 0 else 'latest'} model ...")
    sample_text, sample_secs = _sample_section(path, state, opts)
    held = (f"; the last {cfg.val_frac:.1%} of the text held out for validation"
            if cfg.val_frac > 0 else "")
    hp = _md_table(["hyper-parameter", "value"], _hyper_rows(state, per, held),
                   numeric=False)
    speed = (chars_trained_per_update(cfg) * state.update / state.wall_time
             if state.wall_time > 0 else float("nan"))
    timing = _md_table(["what", "time"], [
        ["training (summed over resumes, compilation excluded)",
         duration(state.wall_time) + (f" ({state.wall_time:,.0f} s)"
                                      if state.wall_time >= 60 else "")],
        ["training speed", f"{speed:,.0f} characters/s, "
                           f"{state.update / max(state.wall_time, 1e-9):,.0f} updates/s"],
        ["gradient check", f"{gc_secs:.1f} s"],
        [f"sampling {opts.sample_length:,} characters", f"{sample_secs:.2f} s"],
    ], numeric=False)
    made = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    doc = f"""# Character-level {model_description(cfg)} on {state.corpus_name}

DD2424 Assignment 4 (min-char-rnn){_beyond(cfg)}. Written by fastrnn {__version__} on {made} from
`{os.path.basename(path)}` (trained with fastrnn {checkpoint_fastrnn_version(path)}).

## 1. Data and hyper-parameters

{_model_text(cfg)}

{hp}

{gc_text}
{_loss_section(state, per)}
{_evolution_section(state, opts)}
{sample_text}
## 6. Timings

{timing}
"""
    report_path = os.path.join(out, REPORT_NAME)
    try:
        with open(report_path, "w", encoding="utf-8") as fh:
            fh.write(doc)
    except OSError as exc:
        raise FastrnnError(f"cannot write {report_path}: {exc.strerror or exc}") from None
    return [report_path, plot_path]
