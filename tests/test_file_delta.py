"""A big file's delta rebuilds the new version exactly from the old one, whatever was done
to it, and sends little for the edits people make: appends, edits in place, bytes inserted or
removed anywhere (the blocks after them are found where they moved to)."""

from __future__ import annotations

import os
import random

import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncengine import file_delta
from syncengine.file_delta import DELTA_BLOCK, Signature
from syncengine.file_state import FileInfo
from syncengine.file_transfer import FileRefused

B = DELTA_BLOCK


def rebuilt(tmp_path, old: bytes, new: bytes) -> tuple[bytes, int]:
    """The new version as the receiver rebuilds it, and the bytes the delta took."""
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    frames = list(file_delta.delta_frames(tmp_path / "new", Signature.of(tmp_path / "old")))
    staged = file_delta.apply_delta(tmp_path / "old", frames, FileInfo(
        len(new), 0, xxhash.xxh3_128_hexdigest(new)))
    try:
        return staged.read_bytes(), sum(len(f) for f in frames)
    finally:
        staged.unlink()


OLD = random.Random(7).randbytes(30 * B + 4321)
EDITS = {
    "append 1 MB": OLD + os.urandom(2**20),
    "1,000 bytes inserted at the start": os.urandom(1000) + OLD,
    "33 KB inserted inside a block": OLD[:5 * B + 777] + os.urandom(33_000) + OLD[5 * B + 777:],
    "a block inserted at a boundary": OLD[:7 * B] + os.urandom(B) + OLD[7 * B:],
    "5 KB removed inside a block": OLD[:3 * B + 10] + OLD[3 * B + 5000:],
    "seven blocks removed": OLD[:2 * B + 100] + OLD[9 * B + 300:],
    "100 bytes rewritten in place": OLD[:4 * B] + os.urandom(100) + OLD[4 * B + 100:],
    "cut short": OLD[:20 * B + 3],
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_common_edits_send_about_what_changed(tmp_path, edit):
    new = EDITS[edit]
    result, sent = rebuilt(tmp_path, OLD, new)
    assert result == new
    changed = max(len(new) - len(OLD), 0)
    # what changed, at most two blocks around it, and a short frame per moved block
    assert sent <= changed + 2 * B + 100 * (len(new) // B), (edit, sent)


def test_a_file_rewritten_throughout_costs_about_its_size(tmp_path):
    new = os.urandom(len(OLD))
    result, sent = rebuilt(tmp_path, OLD, new)
    assert result == new and sent < len(new) * 1.01


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(old_blocks=st.integers(0, 6), tail=st.integers(0, B), seed=st.integers(0, 2**32),
       edits=st.lists(st.tuples(st.sampled_from(["insert", "remove", "rewrite", "repeat"]),
                                st.floats(0, 1), st.integers(1, 3 * B)), max_size=4))
def test_any_edits_rebuild_the_new_version_exactly(tmp_path, old_blocks, tail, seed, edits):
    rng = random.Random(seed)
    old = rng.randbytes(old_blocks * B + tail)
    new = bytearray(old)
    for kind, where, size in edits:
        at = int(where * len(new))
        if kind == "insert":
            new[at:at] = rng.randbytes(size)
        elif kind == "remove":
            del new[at:at + size]
        elif kind == "rewrite":
            new[at:at + size] = rng.randbytes(min(size, len(new) - at))
        else:  # a piece of the file copied elsewhere in it: anchors that occur twice
            new[at:at] = old[:size]
    assert rebuilt(tmp_path, old, bytes(new))[0] == bytes(new)


def test_a_file_of_one_repeated_byte_is_rebuilt(tmp_path):
    old = b"\0" * (5 * B)
    new = b"\0" * 1234 + b"x" + b"\0" * (5 * B)
    assert rebuilt(tmp_path, old, new)[0] == new


@pytest.mark.parametrize("header", [
    {"offset": 0, "length": 10, "from": -1},
    {"offset": 0, "length": 10, "from": 10**9},
    {"offset": -5, "length": 10, "from": 0},
    {"offset": 0, "length": 10**9, "from": 0},
    {"offset": "x", "length": 10},
    {"offset": 0, "length": 10, "from": float("inf")},
    {"offset": 0, "length": 1.5},
    [{"offset": 100, "length": 10, "from": 0}, {"offset": 50, "length": 10, "from": 0}],
])
def test_frames_reaching_outside_either_version_or_out_of_order_are_refused(tmp_path,
                                                                           header):
    import json

    (tmp_path / "old").write_bytes(OLD)
    frames = [json.dumps(h).encode() + b"\n" for h in
              (header if isinstance(header, list) else [header])] + [b'{"end": true}\n']
    with pytest.raises(FileRefused):
        file_delta.apply_delta(tmp_path / "old", frames, FileInfo(len(OLD), 0, "0" * 32))


@pytest.mark.parametrize("signature", [
    {"blocks": "abc"}, {"blocks": ["a"], "anchors": ["zz"]}, {"blocks": ["a", "b"], "size": 3},
    {"blocks": ["a"], "anchors": ["00", "11"]}, [], {"blocks": ["a"], "size": float("inf")},
])
def test_a_malformed_signature_is_refused(signature):
    with pytest.raises(FileRefused):
        Signature.from_json(signature)


def test_content_in_step_again_after_a_rewritten_region_is_found_within_4_mb(tmp_path):
    # given 65 blocks (8 MB) rewritten and, right after them, 8 bytes inserted
    old = random.Random(3).randbytes(200 * B)
    new = os.urandom(65 * B) + b"inserted" + old[65 * B:]
    result, sent = rebuilt(tmp_path, old, new)
    assert result == new
    # then the rest is found where it moved to: the rewritten blocks and at most 4 MB more
    assert sent < 65 * B + 32 * B + 10_000
