"""Validation off the critical path: the held-out loss of a snapshot of the parameters is
computed on a second thread while training goes on.

The evaluation kernels release the GIL (nogil), so on a 2-core machine the held-out pass runs
on the other core; a run with validation then trains as fast as one without. The result is the
one a synchronous evaluation would give: it is computed from copies of the parameters and the
hidden state taken at the update it belongs to, and it is recorded (val_history, on_eval) on
the training thread, in order, before train() returns. A checkpoint does not wait for the
validation of its own update (fastrnn.runstate.validation_missing says why and how a resumed run
makes it up), but it does wait for one of an earlier update, which a resumed run could not make
up: the parameters it scored are gone.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor


class BackgroundValidation:
    """At most one evaluation in flight; `collect` records a finished one."""

    def __init__(self, state, callbacks):
        self.state, self.cb = state, callbacks
        self.pool: ThreadPoolExecutor | None = None
        self.pending: tuple[int, Future] | None = None

    def submit(self, update: int, fn, *args) -> None:
        """Start fn(*args) (the held-out loss of a snapshot) for `update`; a previous
        evaluation is recorded first, so results arrive in update order."""
        self.collect(wait=True)
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="fastrnn-validation")
        self.pending = (update, self.pool.submit(fn, *args))

    def collect(self, wait: bool) -> None:
        """Record the pending evaluation if it is done (or wait for it)."""
        if self.pending is None or not (wait or self.pending[1].done()):
            return
        update, future = self.pending
        self.pending = None
        loss = future.result()
        self.state.val_history.append((update, loss))
        self.cb.on_eval(update, loss)

    def before_checkpoint(self, update: int) -> None:
        """Record what a checkpoint at `update` must hold: a finished evaluation, and one of
        an earlier update even if it is still running (with eval_every below checkpoint_every
        a held-out pass can outlast the updates between them)."""
        if self.pending is not None:
            self.collect(wait=self.pending[0] < update)

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        try:
            if kind is None:
                self.collect(wait=True)
            elif self.pending is not None:        # the run failed: let the thread finish
                self.pending[1].exception()
                self.pending = None
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
        return False
