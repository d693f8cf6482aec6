"""What a file sync decides for each path, from both sides and the base (the last sync)."""

import pytest

from syncengine.file_plan import plan
from syncengine.file_state import FileInfo

OLD = FileInfo(3, 1_000, "old")
MINE = FileInfo(4, 2_000, "mine")      # edited here after the last sync
THEIRS = FileInfo(5, 3_000, "theirs")  # edited there, later still
TOUCHED = FileInfo(3, 5_000, "old")    # mtime changed, content not

P = "css/site.css"


def decide(local, remote, base, direction, policy="remote-wins", synced=("templates",)):
    manifest = lambda info: {} if info is None else {P: info}  # noqa: E731
    actions = plan(manifest(local), manifest(remote), manifest(base), direction, policy,
                   set(synced))
    return [(a.kind, a.conflict) for a in actions]


@pytest.mark.parametrize(("local", "remote", "base", "direction", "expected"), [
    # upload: a local file newer than the remote replaces it; otherwise nothing happens
    (MINE, OLD, OLD, "upload", [("send", False)]),
    (MINE, None, None, "upload", [("send", False)]),
    (OLD, THEIRS, OLD, "upload", []),
    (MINE, THEIRS, OLD, "upload", []),               # the remote is newer still
    # deletions propagate when the other side left the file alone
    (None, OLD, OLD, "upload", [("delete-remote", False)]),
    (None, THEIRS, OLD, "upload", []),               # edited there since: kept
    (None, OLD, None, "upload", []),                 # never synced: not a deletion
    # download: the reverse
    (OLD, THEIRS, OLD, "download", [("fetch", False)]),
    (MINE, OLD, OLD, "download", []),
    (OLD, None, OLD, "download", [("delete-local", False)]),
    # bidirectional: changed on one side → copied that way
    (MINE, OLD, OLD, "bidirectional", [("send", False)]),
    (OLD, THEIRS, OLD, "bidirectional", [("fetch", False)]),
    (None, OLD, OLD, "bidirectional", [("delete-remote", False)]),
    (OLD, None, OLD, "bidirectional", [("delete-local", False)]),
    (TOUCHED, OLD, OLD, "bidirectional", []),        # same content: nothing to move
    # both sides equal: nothing, whatever the direction
    (MINE, MINE, OLD, "upload", []),
    (None, None, OLD, "bidirectional", []),
])
def test_direction_rules(local, remote, base, direction, expected):
    assert decide(local, remote, base, direction) == expected


@pytest.mark.parametrize(("policy", "expected"), [
    ("remote-wins", [("fetch", True)]),
    ("local-wins", [("send", True)]),
])
def test_changed_on_both_sides_the_policy_decides(policy, expected):
    assert decide(MINE, THEIRS, OLD, "bidirectional", policy) == expected


def test_a_deletion_against_an_edit_is_a_conflict_too():
    assert decide(None, THEIRS, OLD, "bidirectional", "local-wins") == [("delete-remote", True)]
    assert decide(None, THEIRS, OLD, "bidirectional", "remote-wins") == [("fetch", True)]


def test_the_first_templates_sync_is_bidirectional_whatever_the_profile_says():
    # never synced: an upload profile still brings the remote-only file and the newer copy
    assert decide(None, THEIRS, None, "upload", synced=()) == [("fetch", False)]
    assert decide(MINE, THEIRS, None, "upload", synced=()) == [("fetch", True)]
    # once synced, upload is upload
    assert decide(None, THEIRS, None, "upload") == []


def test_the_first_resources_sync_keeps_its_direction():
    actions = plan({}, {"assets/a.png": THEIRS}, {}, "upload", "remote-wins", set())
    assert actions == []
