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
