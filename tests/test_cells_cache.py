"""The kernel cache key (fastrnn.jit): a cached kernel never outlives an edit of its sources.

Numba invalidates a cache entry only when the entry's own file changes, while a compiled
entry embeds the code of every kernel it calls, from other files too. fastrnn.jit adds a hash
of all kernel sources to every key; these tests check that the hash covers every module that
compiles through fastrnn.jit and that it is part of the key.
"""
from __future__ import annotations

import os
import re

import fastrnn
from fastrnn import jit
from fastrnn.network_kernels import ENTRIES

PACKAGE = os.path.dirname(fastrnn.__file__)


def test_every_module_compiled_through_jit_is_hashed():
    users = set()
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".py") and re.search(r"from \.+jit import|from \.+ import jit",
                                                  open(path).read()):
                users.add(os.path.relpath(path, PACKAGE))
    assert users and users <= set(jit.KERNEL_SOURCES), users - set(jit.KERNEL_SOURCES)


def test_no_module_caches_around_jit():
    """A plain njit(cache=True) outside fastrnn.vecmath's own test entries would be keyed by
    its file alone and outlive an edit of the kernels it calls."""
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, PACKAGE)
            if name.endswith(".py") and rel not in ("jit.py", "vecmath.py"):
                assert not re.search(r"njit\([^)]*cache=True", open(path).read()), rel


def test_the_source_hash_is_in_every_cache_key(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    before = jit.source_hash([a, b])
    b.write_text("y = 3\n")
    assert jit.source_hash([a, b]) != before
    dispatcher = ENTRIES["lstm"].train_block
    key = dispatcher._cache._index_key((), dispatcher.targetctx.codegen())
    assert key[-1] == jit.SOURCE_HASH
