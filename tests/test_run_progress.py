"""The time left shown beside a run's progress: by items, and by bytes too where a file run
knows what it will move, so a big file going first does not promise days."""

from __future__ import annotations

import pytest

from syncengine.runs import fraction_done

GB = 2**30


def state(done: int, total: int, moved: int = 0, to_move: int = 0) -> dict:
    return {"done": done, "total": total, "bytes": moved, "bytes_total": to_move}


def left(elapsed: float, progress: dict) -> float:
    done = fraction_done(progress)
    return elapsed * (1 - done) / done


def test_a_big_file_first_counts_for_its_size():
    # given a first copy of 100,001 files, 3 GB, whose 1 GB file went first in 8 s
    progress = state(done=1, total=100_001, moved=1 * GB, to_move=3 * GB)
    # then the time left is of the order of the copy (it took 38 s more), not 800,000 s
    assert 20 < left(8.0, progress) < 200
    # and by items alone, as before bytes were known, it was absurd
    assert left(8.0, state(done=1, total=100_001)) > 700_000


def test_many_small_files_count_by_number():
    # given 1,000 files of 20 KB, half of them moved in 0.5 s
    progress = state(done=500, total=1000, moved=500 * 20_000, to_move=1000 * 20_000)
    assert left(0.5, progress) == pytest.approx(0.5)


@pytest.mark.parametrize("done, total", [(0, 10), (10, 10), (3, 0)])
def test_nothing_is_promised_before_the_start_or_after_the_end(done, total):
    assert fraction_done(state(done, total, 5, 100)) is None


def test_a_file_patched_by_delta_is_weighed_as_an_item_not_by_its_size():
    from syncengine.file_plan import FETCH, SEND, FileAction
    from syncengine.file_state import FileInfo
    from syncengine.file_sync import moving_bytes

    big, small = FileInfo(GB, 1, "a"), FileInfo(20_000, 1, "b")
    local = {"big.bin": big, "new.html": small}
    remote = {"big.bin": FileInfo(GB - 1, 1, "c"), "old.css": small}
    actions = [FileAction(SEND, "big.bin"), FileAction(SEND, "new.html"),
               FileAction(FETCH, "old.css")]
    # the limits count every byte that may move; the estimate only what goes whole
    assert moving_bytes(actions, local, remote) == GB + 40_000
    to_move = moving_bytes(actions, local, remote, whole_only=True)
    assert to_move == 40_000
    # given the 1 GB file patched by a 1 MB delta in 3 s, two small files to go: seconds left
    assert left(3.0, state(done=1, total=3, moved=2**20, to_move=to_move)) < 10
