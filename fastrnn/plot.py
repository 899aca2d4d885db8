"""The loss plot of a training run (matplotlib, imported lazily; drawn on an Agg canvas, so it
needs no display and never changes the user's global matplotlib backend).

One figure: the loss of every update (faint), the smooth loss (bold), the epoch boundaries
(dotted verticals), the best point (star) and, when the run held text out, the validation loss.
Update losses are sums over a chunk of seq_length characters (nats), as in the course; the right
axis reads the same curves per character, and the validation loss (a mean per character) is
drawn multiplied by seq_length so that it shares the left axis.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import FastrnnError
from .inspect import epoch_boundaries, updates_per_epoch
from .train import TrainState

WIDTH, HEIGHT, DPI = 1200, 675, 100    # default image size in pixels, and dots per inch
FORMATS = ("png", "pdf", "svg")        # output formats, chosen by the file's extension


def title(state: TrainState) -> str:
    """Corpus and hyper-parameters, two lines."""
    cfg = state.config
    per = updates_per_epoch(state)
    epochs = state.update / per if per else state.epoch
    return (f"{state.corpus_name}: {state.corpus_chars:,} training chars, K={len(state.vocab)}\n"
            f"m={cfg.hidden}, \u03c4={cfg.seq_length}, \u03b7={cfg.eta:g}, \u03c3={cfg.sig:g}, "
            f"clip={cfg.clip:g}, seed={cfg.seed}, {cfg.dtype}; "
            f"{state.update:,} updates, {epochs:.2f} epochs")


def loss_figure(state: TrainState, *, width: int = WIDTH, height: int = HEIGHT, dpi: int = DPI,
                log_y: bool = False):
    """A matplotlib Figure (on an Agg canvas) of the run's losses."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if state.update == 0:
        raise FastrnnError("the checkpoint has no training history to plot (0 updates)")
    tau = state.config.seq_length
    x = np.arange(state.update)
    loss, smooth = state.loss_history[:state.update], state.smooth_history[:state.update]
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(x, loss, color="tab:blue", alpha=0.25, lw=0.5, label="loss of each update")
    ax.plot(x, smooth, color="tab:blue", lw=2, label="smooth loss")
    for i, u in enumerate(epoch_boundaries(state)):
        ax.axvline(u, color="0.35", ls=":", lw=1.2, label="epoch boundary" if i == 0 else None)
        ax.annotate(f"epoch {i + 2}", (u, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -3), textcoords="offset points", va="top", fontsize=8,
                    color="0.35")
    if state.val_history:
        vu, vl = np.array(state.val_history, np.float64).T
        ax.plot(vu, vl * tau, "o-", color="tab:orange", ms=4, lw=1.5,
                label=f"validation loss \u00d7 \u03c4 (last {vl[-1]:.3f} nats/char)")
    if state.best_update >= 0:
        ax.plot([state.best_update], [state.best_smooth], "*", color="tab:red", ms=15,
                mec="k", mew=0.6, zorder=5,
                label=f"best smooth loss {state.best_smooth:.3f} at update "
                      f"{state.best_update:,}")
    if log_y:
        ax.set_yscale("log")
    else:
        top = max(np.nanmax(smooth), np.nanmax(loss[: min(loss.size, 1000)]))
        if state.val_history:
            top = max(top, np.nanmax(vl) * tau)
        ax.set_ylim(0, 1.05 * top)
    ax.set_xlim(0, max(state.update - 1, 1))
    ax.set_xlabel("update")
    ax.set_ylabel(f"loss per chunk of \u03c4={tau} characters (nats)")
    right = ax.secondary_yaxis("right", functions=(lambda y: y / tau, lambda y: y * tau))
    right.set_ylabel("nats per character")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
    ax.set_title(title(state), fontsize=10)
    fig.tight_layout()
    return fig


def check_image_path(path: str, overwrite: bool) -> None:
    """One-line errors for an -o image path that cannot or must not be written."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise FastrnnError(f"{path}: unknown image type '.{ext}'; use one of "
                           + ", ".join("." + f for f in FORMATS))
    if os.path.isdir(path):
        raise FastrnnError(f"{path} is a directory")
    if os.path.exists(path) and not overwrite:
        raise FastrnnError(f"{path} exists; pass --overwrite to replace it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FastrnnError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise FastrnnError(f"cannot write {path}: directory {parent} is not writable")


def save_loss_plot(state: TrainState, path: str, *, overwrite: bool = False, **kw) -> None:
    """Draw loss_figure(state, **kw) into path (.png, .pdf or .svg)."""
    check_image_path(path, overwrite)
    fig = loss_figure(state, **kw)
    try:
        fig.savefig(path, format=os.path.splitext(path)[1].lower().lstrip("."))
    except OSError as exc:
        raise FastrnnError(f"cannot write {path}: {exc.strerror or exc}") from None
