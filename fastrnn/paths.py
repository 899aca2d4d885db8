"""Checks on output paths shared by every command that writes a file."""
from __future__ import annotations

import os

from .errors import FastrnnError


def check_parent_writable(path: str, label: str) -> None:
    """Refuse, before any work is done, an output whose directory is missing or read-only;
    the message starts with `label` (e.g. "--out" or "cannot write loss.png")."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FastrnnError(f"{label}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise FastrnnError(f"{label}: directory {parent} is not writable")
