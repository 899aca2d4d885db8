"""One writer per checkpoint: an exclusive lock held for the whole life of a training run.

The check that --out does not exist runs once, at start-up; two runs started on the same
--out would otherwise both pass it and then replace each other's checkpoint at every save.
The lock is an fcntl.flock on a hidden file beside the checkpoint's real target
(`.NAME.lock`), holding the owner's PID for the message of the refused second run. flock
locks die with their process, so a killed run never leaves a stale lock behind; the file
itself is removed on a clean exit.
"""
from __future__ import annotations

import fcntl
import os

from .errors import FastrnnError


def lock_path(checkpoint: str) -> str:
    """The lock file of a checkpoint (of its target when it is a symlink)."""
    real = os.path.realpath(checkpoint)
    directory, base = os.path.split(real)
    return os.path.join(directory, f".{base}.lock")


class RunLock:
    """Context manager: `with RunLock(out): ...` or acquire()/release()."""

    def __init__(self, checkpoint: str):
        self.checkpoint = checkpoint
        self.path = lock_path(checkpoint)
        self.fd: int | None = None

    def acquire(self) -> "RunLock":
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise FastrnnError(f"cannot lock {self.checkpoint}: "
                                   f"{exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                who = f"PID {holder}" if holder else "another process"
                raise FastrnnError(f"{self.checkpoint} is being written by another fastrnn run "
                                   f"({who}); wait for it to end or choose another --out") \
                    from None
            except OSError:       # a file system without flock: run unlocked, as before
                os.close(fd)
                return self
            # the holder may have removed the file between our open and our lock: then we
            # locked a file nobody else will see, so start again on the current one
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        try:          # the PID is for the message of a run that finds the lock taken
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:        # a full disk: nothing more will be written either
            self.release()
            raise FastrnnError(f"cannot write {self.checkpoint}: {exc.strerror or exc} "
                               "(writing its lock file)") from None
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)      # while still holding it: see acquire()
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
