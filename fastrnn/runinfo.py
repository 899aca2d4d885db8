"""Facts about a run, read from its checkpoint's state: its summary (`info`), epochs, the
samples logged during training (`evolution`), as numbers and as the text the CLI prints.

Losses of training updates are sums over a chunk (nats). Per character they are divided by the
characters an update predicts: seq_length, or fewer on average when per-record training ends
records in shorter chunks (chars_per_update). Bits are nats / ln 2 and the perplexity is
exp(nats per character).
"""
from __future__ import annotations

import textwrap

import numpy as np

from .evaluate import bits, fixed, perplexity
from .runstate import TrainState


# ------------------------------------------------------------------------------- formatting
def duration(seconds: float) -> str:
    """A human duration: '12.3 s', '4 min 05 s', '2 h 03 min'."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def epochs_text(epochs: float) -> str:
    """'3 epochs', '1 epoch', '0.42 epochs'."""
    if abs(epochs - round(epochs)) < 1e-9:
        return f"{int(round(epochs))} epoch" + ("" if round(epochs) == 1 else "s")
    return f"{epochs:.2f} epochs"


def chars_per_update(config) -> float:
    """Mean characters predicted per update: the run's measured figure when the checkpoint has
    it, else seq_length (exact for text trained as one document)."""
    return float(getattr(config, "chars_per_update", 0) or config.seq_length)


def chars_trained_per_update(config) -> float:
    """Characters an update trains on: chars_per_update in each of the `batch` streams."""
    return chars_per_update(config) * getattr(config, "batch", 1)


CELL_NAMES = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU"}   # as prose names them


def model_description(config) -> str:
    """'vanilla RNN' (DD2424), or e.g. '2-layer LSTM, 64 streams, adam, dropout 0.2'."""
    cell = CELL_NAMES[getattr(config, "cell", "rnn")]
    layers = getattr(config, "layers", 1)
    parts = [f"{layers}-layer {cell}" if layers > 1 else cell]
    if getattr(config, "batch", 1) > 1:
        parts.append(f"{config.batch} streams")
    if getattr(config, "optimizer", "adagrad") != "adagrad":
        parts.append(config.optimizer)
    if getattr(config, "dropout", 0.0) > 0:
        parts.append(f"dropout {config.dropout:g}")
    return ", ".join(parts)


def n_params(state: TrainState) -> int:
    """Number of trainable numbers (U, W, V, b, c, or every tensor of every layer)."""
    return int(sum(v.size for v in state.params.values()))


def updates_per_epoch(state: TrainState) -> int | None:
    """Updates in one epoch of this run, or None when the checkpoint cannot tell.

    Exact from the position in the run (update = epoch * per_epoch + chunk) once an epoch is
    done; before that, computed from the corpus length when the text is one document
    (docs/algorithm.md: chunks every seq_length characters while seq_length+1 remain; with B
    streams, within each of the B strips)."""
    if state.epoch > 0:
        return (state.update - state.chunk) // state.epoch
    if not state.config.reset_per_record:
        strip = state.corpus_chars // getattr(state.config, "batch", 1)
        return max((strip - 1) // state.config.seq_length, 0) or None
    return None


def epochs_done(state: TrainState) -> float:
    """Epochs of training done, fractional within an epoch when the epoch length is known."""
    per = updates_per_epoch(state)
    return state.update / per if per else float(state.epoch)


def epoch_boundaries(state: TrainState) -> list[int]:
    """Update numbers at which epoch 2, 3, ... started (within the logged history)."""
    per = updates_per_epoch(state)
    if not per:
        return []
    return [k * per for k in range(1, state.epoch + 1) if k * per < state.update]


def checkpoint_fastrnn_version(path: str) -> str:
    """The fastrnn version that wrote the checkpoint (call after load_state validated it)."""
    import h5py

    with h5py.File(path, "r") as f:
        return str(f.attrs.get("fastrnn_version", "unknown"))


# ------------------------------------------------------------------------------------- info
def summary(state: TrainState, path: str) -> dict:
    """Everything `fastrnn info` shows, as a JSON-serialisable dict."""
    from . import __version__

    from .data import END_OF_RECORD, trained_per_record

    cfg = state.config
    tau = chars_per_update(cfg)
    per = updates_per_epoch(state)
    out = {
        "checkpoint": path,
        "written_by_fastrnn": checkpoint_fastrnn_version(path),
        "fastrnn_version": __version__,
        "corpus_name": state.corpus_name,
        "json_field": getattr(state, "json_field", ""),
        "corpus_chars": state.corpus_chars,
        "vocab_size": len(state.vocab),
        "parameters": n_params(state),
        "model": model_description(cfg),
        "config": cfg.as_dict(),
        "updates": state.update,
        "updates_per_epoch": per,
        "epochs_completed": state.epoch,
        "epochs": epochs_done(state),
        "wall_time_s": state.wall_time,
        "chars_per_s": (chars_trained_per_update(cfg) * state.update / state.wall_time
                        if state.wall_time > 0 else None),
        "latest_smooth_loss": _or_none(state.smooth_loss),
        "best_smooth_loss": _or_none(state.best_smooth) if state.best_update >= 0 else None,
        "best_update": state.best_update if state.best_update >= 0 else None,
        "samples": len(state.samples),
        "chars_per_update": tau,
        "end_of_record": END_OF_RECORD if trained_per_record(cfg, state.vocab) else None,
        "validation": None,
        "changes": [list(c) for c in getattr(state, "changes", [])],
    }
    if state.val_history:
        upd, loss = zip(*state.val_history)
        i = int(np.argmin(loss))
        out["validation"] = {"frac": cfg.val_frac, "evaluations": len(loss),
                             "method": validation_method(cfg),
                             "latest_update": int(upd[-1]), "latest_loss": float(loss[-1]),
                             "best_update": int(upd[i]), "best_loss": float(loss[i])}
    return out


def _or_none(x: float):
    return float(x) if np.isfinite(x) else None


VALIDATION_METHOD = ("held-out text read as training reads on: chunks of {tau}, hidden state "
                     "carried, starting from training's state (docs/validation.md)")
# the general engine (LSTM/GRU/layers/streams) scores the held-out text as `fastrnn eval` does
NETWORK_VALIDATION_METHOD = ("held-out text read from a zero state, the state carried through "
                             "it, as fastrnn eval reads a text (docs/validation.md)")


# per record (both engines): as training reads records
RECORD_VALIDATION_METHOD = ("held-out records, each read from a zero state after its "
                            "end-of-record symbol, as training reads records "
                            "(docs/validation.md)")


def validation_method(config) -> str:
    """How the run's validation loss was measured, in one line (info, plot, report)."""
    from .nettrain import uses_network

    if config.reset_per_record:
        return RECORD_VALIDATION_METHOD
    if uses_network(config):
        return NETWORK_VALIDATION_METHOD
    return VALIDATION_METHOD.format(tau=config.seq_length)


def _per_char(chunk_loss: float | None, tau: float) -> str:
    if chunk_loss is None:
        return "n/a"
    nats = chunk_loss / tau
    return f"{fixed(chunk_loss, 3)} ({fixed(nats, 4)} nats/char, {fixed(bits(nats), 4)} bits/char)"


def format_info(s: dict) -> str:
    """The `fastrnn info` text of a summary()."""
    cfg = s["config"]
    tau = s["chars_per_update"]
    per = s["updates_per_epoch"]
    lines = [("checkpoint", f"{s['checkpoint']} (written by fastrnn {s['written_by_fastrnn']}; "
                            f"this is fastrnn {s['fastrnn_version']})"),
             ("corpus", f"{s['corpus_name']}"
                        + (f" (JSON records, field '{s['json_field']}')" if s["json_field"]
                           else "")
                        + f": {s['corpus_chars']:,} training characters, "
                        f"K={s['vocab_size']}")]
    if s["end_of_record"]:
        lines.append(("records", f"one document per record, each between end-of-record "
                                 f"symbols {s['end_of_record']} (U+241E), which the model "
                                 "learns to predict"))
    if s["validation"]:
        lines.append(("validation", f"last {cfg['val_frac']:.1%} of the text held out; "
                                    + s["validation"]["method"]))
    lines += [("model", f"{s['model']}, m={cfg['hidden']}, K={s['vocab_size']}, "
                        f"{s['parameters']:,} parameters, {cfg['dtype']}"),
              ("config", " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                                  for k, v in cfg.items()))]
    for update, name, old, new in s.get("changes", []):
        lines.append(("changed", f"{name} {old:g} -> {new:g} from update {update:,} "
                                 "(on --resume)"))
    per_text = f"{per:,} updates/epoch" if per else "updates/epoch unknown"
    lines.append(("training", f"{s['updates']:,} updates = {epochs_text(s['epochs'])} "
                              f"({s['epochs_completed']} completed; {per_text})"))
    per_char = (f"per char: / {tau:.2f} characters predicted per update" if tau != cfg["seq_length"]
                else f"per char: / {cfg['seq_length']} characters per chunk")
    lines.append(("smooth loss", f"sum over a chunk, {per_char}"))
    lines.append(("", "latest " + _per_char(s["latest_smooth_loss"], tau)))
    if s["best_update"] is not None:
        lines.append(("", f"best   {_per_char(s['best_smooth_loss'], tau)} "
                          f"at update {s['best_update']:,}"))
    v = s["validation"]
    if v:
        for which in ("latest", "best"):
            nats = v[f"{which}_loss"]
            lines.append(("val loss" if which == "latest" else "",
                          f"{which:<6} {fixed(nats, 4)} nats/char, {fixed(bits(nats), 4)} bits/char, "
                          f"perplexity {fixed(perplexity(nats), 3)} at update {v[f'{which}_update']:,}"))
    speed = f", {s['chars_per_s']:,.0f} chars/s" if s["chars_per_s"] else ""
    lines.append(("wall time", f"{duration(s['wall_time_s'])} training{speed}"))
    lines.append(("samples", f"{s['samples']} logged (fastrnn evolution {s['checkpoint']})"))
    return "\n".join(textwrap.fill(v, 96, initial_indent=f"{k:<12}", subsequent_indent=" " * 12,
                                   break_long_words=False, break_on_hyphens=False)
                     for k, v in lines)


# -------------------------------------------------------------------------------- evolution
def select_samples(state: TrainState, every: int = 0, until: int = 0
                   ) -> list[tuple[int, float, str]]:
    """The logged (update, smooth loss, text), only those at multiples of `every` if > 0 and
    up to update `until` if > 0."""
    return [s for s in state.samples
            if (every <= 0 or s[0] % every == 0) and (until <= 0 or s[0] <= until)]


def format_evolution(state: TrainState, every: int = 0, until: int = 0) -> str:
    """The samples as training printed them: a header line with the update and smooth loss,
    then the text."""
    samples = select_samples(state, every, until)
    if not samples:
        return "no samples logged" + (f" at multiples of {every}" if every > 0 else "") + \
            (f" up to update {until:,}" if until > 0 else "")
    tau = chars_per_update(state.config)
    return "\n\n".join(f"--- update {u:,}, smooth loss {fixed(s, 3)} ({fixed(s / tau, 4)} nats/char)\n{t}"
                       for u, s, t in samples)
