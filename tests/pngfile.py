"""PNG facts for the plot and report tests: read once here, from the file's own header."""
from __future__ import annotations

import struct


def png_size(path) -> tuple[int, int]:
    """(width, height) from the PNG signature and IHDR chunk; asserts it is a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])
