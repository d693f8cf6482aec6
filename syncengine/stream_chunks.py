"""Streams of many small pieces sent as fewer, larger chunks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def coalesced(pieces: Iterable[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    """Pieces of a stream gathered into chunks of about `size` bytes: each chunk costs a
    chunked-encoding line, a TLS record and a read on the other side, so one per small piece
    (a line, a small file's header) is slow."""
    pending: list[bytes] = []
    gathered = 0
    for piece in pieces:
        pending.append(piece)
        gathered += len(piece)
        if gathered >= size:
            yield b"".join(pending)
            pending.clear()
            gathered = 0
    if pending:
        yield b"".join(pending)
