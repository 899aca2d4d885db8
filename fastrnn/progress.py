"""How a training run shows its progress on stderr: a tqdm bar that fits the terminal, or, when
stderr is not a terminal (a pipe, a log file, a batch job), one plain line every N seconds.

The display only displays: it never saves or stops anything (fastrnn.cli's callbacks do, and
forward each event here). Text that must not be garbled by the bar (the progress samples) goes
through `write`, which lifts the bar, prints, and redraws it.
"""
from __future__ import annotations

import os
import sys
import time

from .runinfo import chars_per_update, duration

# The bar's text around the bar itself. Kept to ~60 characters so that an 80-column terminal
# still shows a bar, and ordered so that the least useful field (ETA comes last but is short)
# is the one tqdm trims when a terminal is narrower still.
BAR_FORMAT = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix} ETA {remaining}"


def chars_text(chars_per_sec: float) -> str:
    """'262k chars/s' (or '950 chars/s')."""
    if chars_per_sec >= 10_000:
        return f"{chars_per_sec / 1000:.0f}k chars/s"
    return f"{chars_per_sec:.0f} chars/s"


class Progress:
    """The progress display of one training run (see the module docstring).

    tty: None decides from stream.isatty(). log_every: seconds between plain lines when the
    stream is not a terminal (0 = a line at every progress report of the training loop)."""

    def __init__(self, stream=None, *, tty: bool | None = None, log_every: float = 10.0):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.log_every = log_every
        self.bar = None
        self.last_log = None
        self.total = self.per_epoch = self.epochs = 0
        self.val = None          # latest validation loss (nats/char)
        self.val_update = 0      # the update it was measured at (validation runs behind)

    # ------------------------------------------------------------------ training events
    def start(self, state, total: int, per_epoch: int) -> None:
        self.total, self.per_epoch = total, per_epoch
        self.epochs = -(-total // per_epoch) if per_epoch else 0
        if state.val_history:
            self.val_update, self.val = state.val_history[-1]
        self.message(f"training on {state.corpus_name}: {state.corpus_chars:,} chars, "
                     f"K={len(state.vocab)}, m={state.hidden}, {per_epoch:,} updates/epoch, "
                     f"{total:,} update{'' if total == 1 else 's'} in all ({state.config.dtype})")
        self.t0 = time.monotonic()
        self.u0 = state.update
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=state.update, file=self.stream,
                            dynamic_ncols=True, leave=False,
                            bar_format=BAR_FORMAT, mininterval=0.2)
        else:
            self.last_log = time.monotonic()

    def validation(self, update: int, val_loss: float) -> None:
        self.val, self.val_update = val_loss, update

    def progress(self, state, chars_per_sec: float) -> None:
        if self.bar is not None:
            val = f" val {self.val:.3f}" if self.val is not None else ""
            self.bar.set_postfix_str(f"ep {state.epoch + 1}/{self.epochs} smooth "
                                     f"{state.smooth_loss:.2f}{val} {chars_text(chars_per_sec)}",
                                     refresh=False)
            self.bar.update(state.update - self.bar.n)
        elif self.last_log is not None:
            now = time.monotonic()
            if now - self.last_log >= self.log_every or state.update >= self.total:
                self.last_log = now
                self.message(self.log_line(state, chars_per_sec, now))

    def log_line(self, state, chars_per_sec: float, now: float | None = None) -> str:
        """The plain progress line: update, epoch, smooth loss, val loss, chars/s, ETA."""
        now = time.monotonic() if now is None else now
        tau = chars_per_update(state.config)
        done = state.update - self.u0
        eta = (now - self.t0) * (self.total - state.update) / done if done > 0 else None
        # the latest finished validation: it runs beside training, so it is of an earlier update
        val = (f"val loss {self.val:.4f} nats/char (update {self.val_update:,})"
               if self.val is not None else "val loss n/a")
        return (f"update {state.update:,}/{self.total:,} ({state.update / max(self.total, 1):.0%})"
                f" epoch {min(state.epoch + 1, self.epochs)}/{self.epochs}"
                f" smooth loss {state.smooth_loss:.3f} ({state.smooth_loss / tau:.4f} nats/char)"
                f" {val} {chars_text(chars_per_sec)}"
                f" ETA {duration(eta) if eta is not None else 'n/a'}")

    # ------------------------------------------------------------------------- output
    def message(self, text: str) -> None:
        """A line on the display's stream, above the bar; on a terminal, wrapped to its width
        (a line the terminal wraps itself would push the bar down a line)."""
        if self.tty:
            import textwrap

            text = textwrap.fill(text, self.width(), subsequent_indent="  ",
                                 break_long_words=False, break_on_hyphens=False)
        self.write(text, self.stream)

    def width(self) -> int:
        try:
            return max(os.get_terminal_size(self.stream.fileno()).columns - 1, 20)
        except (OSError, ValueError, AttributeError):
            return 79

    def write(self, text: str, file=None) -> None:
        """Print text (to file, default stdout) without leaving pieces of the bar behind."""
        file = file if file is not None else sys.stdout
        if self.bar is not None:
            self.bar.write(text, file=file)
        else:
            print(text, file=file, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Silent(Progress):
    """--quiet: no bar, no lines."""

    def __init__(self):
        super().__init__(stream=sys.stderr, tty=False)

    def start(self, state, total, per_epoch):
        self.total, self.per_epoch = total, per_epoch

    def progress(self, state, chars_per_sec):
        pass

    def write(self, text, file=None):
        pass
