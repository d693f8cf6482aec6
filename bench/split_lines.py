"""The change-set line reader on one long line: time grows with size, not with its square.

    .venv/bin/python bench/split_lines.py [--chunk-kb 64] [--baseline]

Prints seconds for a single line of 8, 16, 32 and 64 MB arriving in --chunk-kb chunks (the
peer API's request body chunks), and the ratio to the previous size: about 2 for each
doubling means linear. With --baseline, the reader as it was before (the unread rest copied
again with every chunk) runs beside it, on sizes up to 32 MB; it takes minutes past that.
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIZES_MB = (8, 16, 32, 64)


def quadratic_split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The earlier reader: the unread rest of the buffer copied again with every chunk."""
    buffer, at = b"", 0
    chunks = iter(chunks)
    while True:
        end = buffer.find(b"\n", at)
        if end < 0:
            chunk = next(chunks, None)
            if chunk is not None:
                buffer, at = buffer[at:] + chunk, 0
                continue
            if buffer[at:]:
                yield buffer[at:]
            return
        line, at = buffer[at:end], end + 1
        if line:
            yield line


def timed(reader, size: int, chunk: int) -> float:
    piece = b"x" * chunk
    chunks = (piece for _ in range(size // chunk))
    started = time.perf_counter()
    lines = list(reader(chunks))
    elapsed = time.perf_counter() - started
    assert len(lines) == 1 and len(lines[0]) == size
    return elapsed


def the_reader() -> tuple[Callable[[Iterable[bytes]], Iterator[bytes]], Path]:
    """syncengine's split_lines, imported in a throwaway instance home (no database is
    used: the reader is plain Python, but its module needs Django's settings)."""
    from esync_site import instance_setup

    os.environ.pop("DATABASE_URL", None)
    home = Path(tempfile.mkdtemp(prefix="esync-bench-"))
    instance_setup.create_home_files(instance_setup.plan_home(home, "bench", None, None, None))
    os.environ["ESYNC_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "esync_site.settings"
    import django

    django.setup()
    from syncengine.table_copy import split_lines

    return split_lines, home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-kb", type=int, default=64)
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()
    chunk = args.chunk_kb * 1024
    split_lines, home = the_reader()
    try:
        compare(split_lines, chunk, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def compare(split_lines, chunk: int, args: argparse.Namespace) -> None:
    print(f"one line, in {args.chunk_kb} KB chunks")
    print(f"{'MB':>4} {'split_lines s':>14} {'ratio':>6}"
          + (f" {'before s':>10} {'ratio':>6}" if args.baseline else ""))
    previous = previous_old = None
    for mb in SIZES_MB:
        size = mb * 1024 * 1024
        now = timed(split_lines, size, chunk)
        ratio = f"{now / previous:6.2f}" if previous else f"{'':>6}"
        text = f"{mb:>4} {now:14.3f} {ratio}"
        if args.baseline and mb <= 32:
            old = timed(quadratic_split_lines, size, chunk)
            old_ratio = f"{old / previous_old:6.2f}" if previous_old else f"{'':>6}"
            text += f" {old:10.3f} {old_ratio}"
            previous_old = old
        print(text, flush=True)
        previous = now


if __name__ == "__main__":
    main()
