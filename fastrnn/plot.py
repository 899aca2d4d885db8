"""The loss plot of a training run (matplotlib, imported lazily; drawn on an Agg canvas, so it
needs no display and never changes the user's global matplotlib backend).

One figure: the loss of every update (faint), the smooth loss (bold), the epoch boundaries
(dotted verticals), the best point (star) and, when the run held text out, the validation loss.
Update losses are sums over a chunk (nats), as in the course; the right axis reads the same
curves per character -- divided by the characters an update predicts (seq_length, or the mean
of a per-record run's shorter chunks) -- and the validation loss (a mean per character) is
drawn multiplied by that number so that it shares the left axis.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from .config import PlotConfig
from .errors import FastrnnError
from .paths import check_parent_writable
from .runinfo import (chars_per_update, epoch_boundaries, epochs_done,
                      epochs_text, model_description, updates_per_epoch,
                      validation_method)
from .runstate import TrainState

_P = PlotConfig()
FORMATS = ("png", "pdf", "svg")        # output formats, chosen by the file's extension
MAX_EPOCH_LINES = 30                   # epoch boundaries drawn as lines up to this many
MAX_CHANGE_LABELS = 4                  # resumes with option changes named in the legend


def title(state: TrainState) -> str:
    """Corpus, model and hyper-parameters, two lines: the course's RNN shows its σ; a run
    beyond the course names its model (e.g. '2-layer LSTM, 32 streams, adam') instead."""
    from .nettrain import uses_network

    cfg = state.config
    epochs = epochs_done(state)
    model = (f"{model_description(cfg)}, " if uses_network(cfg) else "")
    sig = f"\u03c3={cfg.sig:g}, " if cfg.cell == "rnn" else ""
    return (f"{state.corpus_name}: {state.corpus_chars:,} training chars, K={len(state.vocab)}\n"
            f"{model}m={cfg.hidden}, \u03c4={cfg.seq_length}, \u03b7={cfg.eta:g}, {sig}"
            f"clip={cfg.clip:g}, seed={cfg.seed}, {cfg.dtype}; "
            f"{state.update:,} updates, {epochs_text(epochs)}")


def loss_figure(state: TrainState, *, width: int = _P.width, height: int = _P.height,
                dpi: int = _P.dpi, log_y: bool = _P.log_y):
    """A matplotlib Figure (on an Agg canvas) of the run's losses."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    if state.update == 0:
        raise FastrnnError("the checkpoint has no training history to plot (0 updates)")
    tau = chars_per_update(state.config)
    x = np.arange(state.update)
    loss, smooth = state.loss_history[:state.update], state.smooth_history[:state.update]
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(x, loss, color="tab:blue", alpha=0.25, lw=0.5, label="loss of each update",
            gid="loss")
    ax.plot(x, smooth, color="tab:blue", lw=2, label="smooth loss", gid="smooth")
    bounds = epoch_boundaries(state)
    if len(bounds) <= MAX_EPOCH_LINES:    # beyond that the lines would hide the curves
        for i, u in enumerate(bounds):
            ax.axvline(u, color="0.35", ls=":", lw=1.2, gid="epoch",
                       label="epoch boundary" if i == 0 else None)
    # one line per resume that changed options, labelled with all of its changes (the
    # legend names the first few such resumes; `fastrnn info` lists every change)
    at: dict = {}
    for u, name, old, new in getattr(state, "changes", []):
        at.setdefault(u, []).append(f"{name} {old:g} \u2192 {new:g}")
    for i, (u, texts) in enumerate(at.items()):
        label = None
        if i < MAX_CHANGE_LABELS:
            label = ", ".join(texts) + " (resumed)"
        elif i == MAX_CHANGE_LABELS:
            more = len(at) - i
            label = f"{more} more resume{'s' if more > 1 else ''} with changes (fastrnn info)"
        ax.axvline(u, color="tab:green", ls="--", lw=1.2, gid="change", label=label)
    per = updates_per_epoch(state)
    if per and state.update >= per:
        top_axis = ax.secondary_xaxis("top", functions=(lambda u: u / per, lambda e: e * per))
        top_axis.set_xlabel("epoch", fontsize=9)
    if state.val_history:
        vu, vl = np.array(state.val_history, np.float64).T
        ax.plot(vu, vl * tau, "o-", color="tab:orange", ms=4, lw=1.5, gid="validation",
                label=f"validation loss \u00d7 {tau:g} (last {vl[-1]:.3f} nats/char)")
    if state.best_update >= 0:
        ax.plot([state.best_update], [state.best_smooth], "*", color="tab:red", ms=15,
                mec="k", mew=0.6, zorder=5, clip_on=False, gid="best",
                label=f"best smooth loss {state.best_smooth:.3f} at update "
                      f"{state.best_update:,}")
    if log_y:
        ax.set_yscale("log")
    else:
        # room for the smooth curve and most raw losses; rare spikes may leave the frame
        top = max(np.nanmax(smooth), np.nanpercentile(loss, 99.5))
        if state.val_history:
            top = max(top, np.nanmax(vl) * tau)
        ax.set_ylim(0, 1.05 * top)
    ax.set_xlim(0, max(state.update - 1, 1) * 1.01)
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel("update")
    if tau == state.config.seq_length:
        ax.set_ylabel(f"loss per chunk of \u03c4={state.config.seq_length} characters (nats)")
    else:
        ax.set_ylabel(f"loss per update ({tau:.2f} characters predicted on average) (nats)")
    if state.val_history:   # what the orange curve measures, in small print under the axes
        ax.annotate("validation: " + validation_method(state.config),
                    (0, 0), xycoords="figure fraction", xytext=(4, 4),
                    textcoords="offset points", fontsize=7, color="0.3", gid="val-method")
    right = ax.secondary_yaxis("right", functions=(lambda y: y / tau, lambda y: y * tau))
    right.set_ylabel("nats per character")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9, framealpha=0.9)   # "best": the least covered corner
    ax.set_title(title(state), fontsize=10)
    # matplotlib warns (a raw Python warning) when the text does not fit the image (a small
    # --width/--height or a large --dpi): the figure says so instead, save_loss_plot returns it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.tight_layout()
    layout = [w for w in caught if "ight layout" in str(w.message)]
    for w in caught:                     # any other warning goes on as it came
        if w not in layout:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    fig.fastrnn_cramped = bool(layout)
    return fig


def check_image_path(path: str, overwrite: bool) -> None:
    """One-line errors for an -o image path that cannot or must not be written."""
    if os.path.isdir(path):
        raise FastrnnError(f"{path} is a directory; give an image file name, e.g. loss.png")
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise FastrnnError(f"{path}: " + (f"unknown image type '.{ext}'" if ext else
                                          "no file extension") + "; use one of "
                           + ", ".join("." + f for f in FORMATS))
    if os.path.exists(path) and not overwrite:
        raise FastrnnError(f"{path} exists; pass --overwrite to replace it")
    check_parent_writable(path, f"cannot write {path}")


def save_loss_plot(state: TrainState, path: str, *, overwrite: bool = False, **kw) -> bool:
    """Draw loss_figure(state, **kw) into path (.png, .pdf or .svg). Returns whether its text
    did not fit (the image is written anyway)."""
    check_image_path(path, overwrite)
    fig = loss_figure(state, **kw)
    try:
        fig.savefig(path, format=os.path.splitext(path)[1].lower().lstrip("."))
    except OSError as exc:
        raise FastrnnError(f"cannot write {path}: {exc.strerror or exc}") from None
    return fig.fastrnn_cramped
