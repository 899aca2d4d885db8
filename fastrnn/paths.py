"""Checks on output paths shared by every command that writes a file."""
from __future__ import annotations

import os

from .errors import FastrnnError


def check_parent_writable(path: str, label: str) -> None:
    """Refuse, before any work is done, an output whose directory is missing, is a file or
    is read-only; the message starts with `label` (e.g. "--out" or "cannot write loss.png")."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        # name the first component that is in the way: a file where a directory must be
        # is not the same mistake as a directory that does not exist
        probe = parent
        while probe and not os.path.exists(probe):
            up = os.path.dirname(probe)
            if up == probe:
                break
            probe = up
        if os.path.exists(probe) and not os.path.isdir(probe):
            raise FastrnnError(f"{label}: {probe} is a file, not a directory")
        raise FastrnnError(f"{label}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise FastrnnError(f"{label}: directory {parent} is not writable")
