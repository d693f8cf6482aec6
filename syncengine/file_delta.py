"""Deltas of big files: the receiver's old version describes itself in blocks, the sender
answers with what differs, and the receiver rebuilds the new version from its old one.

The signature of the old version: its size, a digest per 128 KB block, and each block's
first 16 bytes (its anchor). The sender walks its new version: where a block is the old one
in its place, nothing goes; where the old block is found elsewhere — the content moved, as
after bytes inserted or removed ahead of it — a short frame says copy it from the old
version; anything else goes as data. Moved blocks are found without a rolling checksum: the
sender looks for the expected block's anchor a little further on (an insertion), or for the
anchors of the next blocks close by (a removal), with `bytes.find`, and takes a place only if
the whole block's digest agrees. A region where none is found goes as data; searching again
there backs off to every 32 blocks (4 MB), so a file rewritten throughout costs little more
than sending it, and content in step again after a rewritten region is found within 4 MB.

Frames: `{"offset", "length"}` + data writes data at `offset` of the new version;
`{"offset", "length", "from"}` copies that many bytes of the old version from `from` (a run of
moved blocks, up to 64 MB, in one frame).
What no frame covers is the old version's bytes in their place, cut to the new size.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import xxhash

from syncengine.file_state import FileInfo, digest_of, open_to_read
from syncengine.file_transfer import FileRefused, FrameReader, frame, new_staging_file

DELTA_BLOCK = 128 * 1024
ANCHOR = 16
INSERTION_REACH = 8 * 1024 * 1024  # how far on an insertion is looked for
REMOVAL_REACH = 64                  # how many blocks on a removal is looked for
OCCURRENCES = 16                    # places an anchor is tried at, at most, per search
COPY_MAX = 64 * 1024 * 1024         # the most one copy-from frame may ask for


@dataclass(frozen=True)
class Signature:
    """An old version as the delta's sender needs it."""

    size: int
    blocks: list[str]   # xxh3-64 hex digest of each block
    anchors: list[str]  # hex of each block's first bytes

    @classmethod
    def of(cls, path: Path, block: int = DELTA_BLOCK) -> Signature:
        blocks, anchors, size = [], [], 0
        with open_to_read(path) as source:
            while chunk := source.read(block):
                blocks.append(xxhash.xxh3_64_hexdigest(chunk))
                anchors.append(chunk[:ANCHOR].hex())
                size += len(chunk)
        return cls(size, blocks, anchors)

    def as_json(self) -> dict:
        return {"size": self.size, "blocks": self.blocks, "anchors": self.anchors}

    @classmethod
    def from_json(cls, data: object) -> Signature:
        """A peer's signature, refused unless well formed. Without anchors (or size), a
        delta still finds blocks in their place."""
        try:
            if not isinstance(data["blocks"], list) or \
                    not isinstance(data.get("anchors", []), list):
                raise TypeError("blocks and anchors are lists")
            blocks = [str(b) for b in data["blocks"]]
            anchors = [str(a) for a in data.get("anchors", [])]
            size = int(data.get("size", len(blocks) * DELTA_BLOCK))
            if anchors and len(anchors) != len(blocks):
                raise ValueError("one anchor per block")
            for anchor in anchors:
                bytes.fromhex(anchor)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
            raise FileRefused("a block signature is malformed") from error
        if size < 0 or len(blocks) != -(-size // DELTA_BLOCK):
            raise FileRefused("a block signature does not fit its size")
        return cls(size, blocks, anchors)


class _NewVersion:
    """The new version read from a position on, with a look-ahead kept in memory."""

    def __init__(self, source) -> None:
        self.source = source
        self.buffer = bytearray()
        self.start = 0  # the file offset of buffer[0]
        self.ended = False

    def ahead(self, position: int, wanted: int) -> tuple[bytearray, int]:
        """(buffer, index of `position` in it), with `wanted` bytes after it when the file
        has them."""
        if position - self.start > 4 * INSERTION_REACH:
            del self.buffer[:position - self.start]
            self.start = position
        while not self.ended and self.start + len(self.buffer) < position + wanted:
            chunk = self.source.read(max(wanted, 4 * DELTA_BLOCK))
            if not chunk:
                self.ended = True
            self.buffer += chunk
        return self.buffer, position - self.start


def delta_frames(path: Path, theirs: Signature, block: int = DELTA_BLOCK) -> Iterator[bytes]:
    """Frames that turn the old version `theirs` describes into the file at `path`."""
    count = len(theirs.blocks)
    anchors = [bytes.fromhex(a) for a in theirs.anchors] if theirs.anchors else []

    def length_of(index: int) -> int:
        return min(block, theirs.size - index * block)

    def is_block(data, at: int, index: int) -> bool:
        size = length_of(index)
        return size > 0 and len(data) - at >= size and \
            xxhash.xxh3_64_hexdigest(data[at:at + size]) == theirs.blocks[index]

    def find(data, start: int, end: int, index: int) -> int | None:
        """Where old block `index` begins in data[start:end], by its anchor and digest."""
        anchor = anchors[index]
        if len(anchor) < min(ANCHOR, length_of(index)):
            return None
        for _ in range(OCCURRENCES):
            at = data.find(anchor, start, end + len(anchor))
            if at < 0:
                return None
            if is_block(data, at, index):
                return at
            start = at + 1
        return None

    copying: list[int] = []  # a run of moved blocks not yet sent: [offset, length, from]

    def copied() -> Iterator[bytes]:
        if copying:
            offset, length, origin = copying
            copying.clear()
            yield from frame({"offset": offset, "length": length, "from": origin})

    with open_to_read(path) as source:
        new = _NewVersion(source)
        position, expected = 0, 0  # where we are in the new version; the old block due here
        search_from, misses = 0, 0
        while True:
            data, at = new.ahead(position, INSERTION_REACH + 2 * block)
            if at >= len(data):
                break
            if expected < count and is_block(data, at, expected):
                size, origin = length_of(expected), expected * block
                if position == origin:  # in its place: it is there already
                    yield from copied()
                elif copying and copying[0] + copying[1] == position and \
                        copying[2] + copying[1] == origin and copying[1] + size <= COPY_MAX:
                    copying[1] += size  # the run of moved blocks goes on
                else:
                    yield from copied()
                    copying[:] = [position, size, origin]
                position, expected, misses = position + size, expected + 1, 0
                search_from = position  # in step again: the next difference is searched
                continue
            yield from copied()
            moved = None
            if anchors and position >= search_from and expected < count:
                moved = _moved(data, at, expected, count, block, find)
                if moved is None:
                    misses += 1
                    search_from = position + block * 2 ** min(misses, 5)  # 4 MB at most
            if moved is not None:
                found_at, expected = moved
                yield from _data_frames(data, at, found_at, position, block)
                position += found_at - at
                continue
            size = min(block, len(data) - at)
            yield from _data_frames(data, at, at + size, position, block)
            position, expected = position + size, expected + 1
        yield from copied()
    yield from frame({"end": True})


def _moved(data, at: int, expected: int, count: int, block: int, find
           ) -> tuple[int, int] | None:
    """Where the content goes on after a difference at `at`: (index in data, old block).
    The block due here or the next one, further on (bytes were inserted before or inside
    this block); or one of the next blocks, close by (bytes were removed, or this block was
    rewritten). The nearest wins."""
    found = []
    for index in range(expected, min(count, expected + 2)):
        inserted = find(data, at + 1, at + INSERTION_REACH, index)
        if inserted is not None:
            found.append((inserted, index))
    for index in range(expected + 1, min(count, expected + 1 + REMOVAL_REACH)):
        removed = find(data, at, at + block, index)
        if removed is not None:
            found.append((removed, index))
            break
    return min(found) if found else None


def _data_frames(data, start: int, end: int, position: int, block: int) -> Iterator[bytes]:
    for piece in range(start, end, block):
        size = min(block, end - piece)
        yield from frame({"offset": position + piece - start, "length": size},
                         [bytes(data[piece:piece + size])])


def apply_delta(old: Path, frames: Iterable[bytes], expected: FileInfo) -> Path:
    """A staged new version: `old` with the delta's frames written in, cut to the new size,
    checked against the expected digest. Frames must come in the order of the new version,
    none over another (as they are made), so a peer cannot ask for more work than the file."""
    staged = new_staging_file()
    try:
        reader = FrameReader(frames)
        with open_to_read(old) as original, open(staged, "wb+") as out:
            shutil.copyfileobj(original, out, 1024 * 1024)  # what no frame covers stays
            old_size = original.tell()
            written_to = 0  # the new version is written in order up to here
            while not (header := reader.header()).get("end"):
                try:
                    offset, length = header["offset"], header["length"]
                    source = header.get("from")
                    if type(offset) is not int or type(length) is not int or \
                            (source is not None and type(source) is not int):
                        raise TypeError("offsets and lengths are whole numbers")
                except (KeyError, TypeError, AttributeError) as error:
                    raise FileRefused("a delta block header is malformed") from error
                if offset < written_to or length < 0 or offset + length > expected.size:
                    raise FileRefused("a delta block lies outside the file, or out of order")
                written_to = offset + length
                out.seek(offset)
                if source is None:
                    for piece in reader.body(length):
                        out.write(piece)
                    continue
                if source < 0 or source + length > old_size or length > COPY_MAX:
                    raise FileRefused("a delta block copies from outside the old version")
                original.seek(source)
                while length:
                    piece = original.read(min(length, 1024 * 1024))
                    out.write(piece)
                    length -= len(piece)
            out.truncate(expected.size)
            out.flush()
            os.fsync(out.fileno())
        if digest_of(staged) != expected.digest:
            raise FileRefused("the file rebuilt from the delta does not match its digest")
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged
