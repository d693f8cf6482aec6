"""A scan that trusts its digest cache reaches the same answer as a scan from nothing, whatever
happened to the tree in between (creations, edits, deletions, touches, same-size rewrites)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import file_state
from syncengine.file_rules import FileFilter

NAMES = ["css/a.css", "css/b.css", "js/app.js", "templates/page.html", "x/y/z.html",
         "uploadedfiles/doc.pdf", "workarea/custom/menu.js", "notes.txt"]
ITEMS = {"templates", "database", "workarea"}

operation = st.tuples(st.sampled_from(["write", "delete", "touch", "same-size"]),
                      st.sampled_from(NAMES), st.binary(min_size=0, max_size=40))


def apply(root: Path, op: str, name: str, data: bytes, clock: list[int]) -> None:
    path = root / name
    clock[0] += 1_000_000  # mtimes move on like a clock; ns resolution is kept
    if op == "delete":
        path.unlink(missing_ok=True)
        return
    if op == "write":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    elif op == "same-size" and path.exists():
        size = path.stat().st_size
        path.write_bytes((data * (size + 1))[:size] if data else bytes(size))
    elif not path.exists():
        return
    os.utime(path, ns=(clock[0], clock[0]))


@settings(max_examples=25, deadline=None)
@given(st.lists(operation, max_size=12), st.lists(operation, max_size=12))
def test_a_cached_scan_agrees_with_a_scan_from_nothing(first, second):
    root = Path(tempfile.mkdtemp())
    cache = f"digests-{uuid.uuid4().hex}.json"
    clock = [1_700_000_000 * 10**9]
    try:
        for op in first:
            apply(root, *op, clock)
        file_state.scan(root, ITEMS, FileFilter(), cache_name=cache)  # fills the cache
        for op in second:
            apply(root, *op, clock)
        cached = file_state.scan(root, ITEMS, FileFilter(), cache_name=cache)
        fresh = file_state.scan(root, ITEMS, FileFilter(), cache_name=f"none-{cache}")
        assert cached == fresh
        assert "notes.txt" not in fresh
    finally:
        shutil.rmtree(root)
        for name in (cache, f"none-{cache}"):
            (Path(file_state._state_file(name))).unlink(missing_ok=True)
