"""Files from a peer land whole or not at all, each alone, only where a profile item allows,
with the old copy kept; deltas rebuild a file from its changed blocks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.conf import settings

from syncengine import file_delta, file_state, file_transfer
from syncengine.file_transfer import FileRefused

STAMP = "20261125-120000-run7"


@pytest.fixture
def site_root() -> Path:
    root = Path(settings.SITE_ROOT)
    yield root
    for folder in ("css", "workarea", "uploadedfiles"):
        for path in sorted((root / folder).rglob("*"), reverse=True):
            path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()


def framed(*files: tuple[str, bytes], end: bool = True, size_lie: int = 0) -> list[bytes]:
    chunks = []
    for path, body in files:
        info = {"path": path, "size": len(body) + size_lie, "mtime_ns": 1_700_000_000 * 10**9,
                "digest": _digest(body)}
        chunks += [json.dumps(info).encode() + b"\n", body]
    if end:
        chunks.append(b'{"end": true}\n')
    return chunks


def _digest(body: bytes) -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest(body)


def test_a_stream_of_files_lands_with_mtimes_and_replaced_files_are_kept(site_root):
    (site_root / "css").mkdir(exist_ok=True)
    (site_root / "css/site.css").write_text("old")
    received = file_transfer.receive_files(
        framed(("css/site.css", b"new"), ("css/print.css", b"print")), ["templates"], STAMP)
    assert received.landed == ["css/site.css", "css/print.css"]
    assert (site_root / "css/site.css").read_text() == "new"
    assert (site_root / "css/site.css").stat().st_mtime_ns == 1_700_000_000 * 10**9
    kept = Path(settings.ESYNC.home) / "versions" / STAMP / "css/site.css"
    assert kept.read_text() == "old"


def test_every_staged_file_is_on_disk_before_any_lands(site_root, monkeypatch):
    # given a stream of more files than one flush group holds, and a little more
    count = file_transfer.FLUSH_GROUP * 2 + 5
    flushed, landed_after = set(), []
    flush, land = file_transfer.flush_to_disk, file_transfer.land

    def recording_flush(path):
        flush(path)
        flushed.add(path)

    def checking_land(staged, *args, **kwargs):
        landed_after.append(len(flushed))
        assert staged in flushed, f"{staged} landed before it was flushed"
        return land(staged, *args, **kwargs)

    monkeypatch.setattr(file_transfer, "flush_to_disk", recording_flush)
    monkeypatch.setattr(file_transfer, "land", checking_land)
    received = file_transfer.receive_files(
        framed(*[(f"css/f{n}.css", b"x" * n) for n in range(count)]), ["templates"], STAMP)
    # then all were flushed, every group and the rest, before the first one landed
    assert len(received.landed) == count
    assert landed_after[0] == count


def test_a_folder_made_by_the_stream_itself_is_not_replaced_by_a_later_file(site_root):
    # given a stream whose first file makes a folder, and a later file of the folder's name
    received = file_transfer.receive_files(
        framed(("css/new/a.css", b"a"), ("css/new", b"a file where a folder now is")),
        ["templates"], STAMP)
    # then the first lands, the second is refused with its reason, and the folder stays
    assert received.landed == ["css/new/a.css"]
    assert [r["path"] for r in received.refused] == ["css/new"]
    assert (site_root / "css/new/a.css").read_bytes() == b"a"
    assert not list(file_transfer.incoming_dir().iterdir())


@pytest.mark.parametrize(("bad", "reason"), [
    ("../../etc/passwd", "leads outside the site root"),
    ("css/../../esync.toml", "leads outside the site root"),
    ("/etc/passwd", "is an absolute path"),
    ("workarea/help/page.html", "is not a file this profile synchronizes"),
    ("web.config", "is not a file this profile synchronizes"),
    ("css/bad\x00name.css", "characters a file name may not have"),
    ("css/" + "x" * 300 + ".css", "longer than 255 bytes"),
])
def test_a_bad_path_in_the_stream_is_refused_alone_and_the_rest_lands(site_root, bad, reason):
    before = sorted(site_root.rglob("*"))
    received = file_transfer.receive_files(
        framed(("css/fine.css", b"fine"), (bad, b"evil"), ("css/after.css", b"after")),
        ["templates", "workarea"], STAMP)
    assert received.landed == ["css/fine.css", "css/after.css"]
    assert [r["path"] for r in received.refused] == [bad]
    assert reason in received.refused[0]["error"]
    assert sorted(site_root.rglob("*")) == sorted(
        {*before, site_root / "css", site_root / "css/fine.css", site_root / "css/after.css"})
    assert not list(file_transfer.incoming_dir().iterdir())


def test_a_name_that_is_not_utf8_lands_under_its_own_bytes(site_root):
    # given a name written on a Latin-1 disk, as Python spells it (a lone surrogate per byte)
    received = file_transfer.receive_files(framed(("css/caf\udce9.css", b"latin-1")),
                                           ["templates"], STAMP)
    assert received.landed == ["css/caf\udce9.css"]
    assert (os.fsencode(site_root) + b"/css/caf\xe9.css") in [
        os.fsencode(p) for p in (site_root / "css").iterdir()]


@pytest.mark.parametrize("spelling", ["css/\ud800.css", "css/caf\udcc3\udca9.css"])
def test_a_surrogate_that_is_no_byte_or_a_second_name_for_a_utf8_one_is_refused(site_root,
                                                                              spelling):
    received = file_transfer.receive_files(framed((spelling, b"x"), ("css/ok.css", b"ok")),
                                           ["templates"], STAMP)
    assert received.landed == ["css/ok.css"]
    assert "holds characters no file system name can" in received.refused[0]["error"]


def test_a_file_whose_bytes_are_not_the_announced_ones_is_refused_alone(site_root):
    frames = framed(("css/a.css", b"aaaa"), ("css/b.css", b"bbbb"))
    header = json.loads(frames[0])
    frames[0] = json.dumps({**header, "digest": _digest(b"other")}).encode() + b"\n"
    received = file_transfer.receive_files(frames, ["templates"], STAMP)
    assert received.landed == ["css/b.css"]
    assert "changed on the sending server while it was sent" in received.refused[0]["error"]
    assert not (site_root / "css/a.css").exists()


def test_a_link_leading_out_of_the_site_root_is_refused(site_root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (site_root / "css").mkdir(exist_ok=True)
    os.symlink(outside, site_root / "css" / "escape")
    received = file_transfer.receive_files(framed(("css/escape/evil.css", b"evil")),
                                           ["templates"], STAMP)
    assert received.landed == []
    assert "leads out of the site root through a link" in received.refused[0]["error"]
    assert list(outside.iterdir()) == []


def test_a_link_deeper_in_a_folder_already_checked_is_refused_too(site_root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (site_root / "css" / "deep").mkdir(parents=True, exist_ok=True)
    os.symlink(outside, site_root / "css" / "deep" / "escape")
    received = file_transfer.receive_files(framed(("css/deep/fine.css", b"fine"),
                                                  ("css/deep/escape/evil.css", b"evil")),
                                           ["templates"], STAMP)
    assert received.landed == ["css/deep/fine.css"]
    assert "leads out of the site root through a link" in received.refused[0]["error"]
    assert list(outside.iterdir()) == []


def test_a_link_to_a_folder_inside_the_site_root_is_followed(site_root):
    (site_root / "css" / "real").mkdir(parents=True, exist_ok=True)
    os.symlink(site_root / "css" / "real", site_root / "css" / "alias")
    file_transfer.receive_files(framed(("css/alias/a.css", b"through the link")),
                                ["templates"], STAMP)
    assert (site_root / "css" / "real" / "a.css").read_bytes() == b"through the link"


@pytest.mark.parametrize("damage", ["cut short", "size lies", "no end marker"])
def test_a_broken_stream_lands_nothing(site_root, damage):
    chunks = framed(("css/a.css", b"aaaa"), ("css/b.css", b"bbbb"), end=damage != "no end marker",
                    size_lie=2 if damage == "size lies" else 0)
    if damage == "cut short":
        chunks = chunks[:3]
    with pytest.raises(FileRefused):
        file_transfer.receive_files(chunks, ["templates"], STAMP)
    assert not (site_root / "css/a.css").exists()
    assert not list(file_transfer.incoming_dir().iterdir())


def test_a_file_changed_here_since_the_sender_looked_is_left_alone(site_root):
    (site_root / "css").mkdir(exist_ok=True)
    (site_root / "css/site.css").write_text("edited here meanwhile")
    frames = framed(("css/site.css", b"from the peer"))
    header = json.loads(frames[0])
    header["replaces"] = _digest(b"what the sender saw")
    frames[0] = json.dumps(header).encode() + b"\n"
    received = file_transfer.receive_files(frames, ["templates"], STAMP)
    assert received.landed == []
    assert "changed on this server during the sync" in received.refused[0]["error"]
    assert (site_root / "css/site.css").read_text() == "edited here meanwhile"


def test_a_delta_sends_only_changed_blocks_and_rebuilds_the_file(tmp_path):
    block = file_delta.DELTA_BLOCK
    old = os.urandom(block * 10 + 100)
    new = old[:block * 3] + os.urandom(block) + old[block * 4:] + os.urandom(5000)
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    frames = list(file_delta.delta_frames(tmp_path / "new",
                                          file_delta.Signature.of(tmp_path / "old")))
    assert sum(len(f) for f in frames) < 3 * block  # the edited block and the new tail
    staged = file_delta.apply_delta(tmp_path / "old", frames,
                                    file_state.FileInfo(len(new), 0, _digest(new)))
    assert staged.read_bytes() == new
    staged.unlink()


def test_a_stream_over_this_servers_limits_is_refused_with_the_limit_and_lands_nothing(
        site_root):
    with pytest.raises(FileRefused, match="limit of 1 files or 1000 bytes per run"):
        file_transfer.receive_files(framed(("css/a.css", b"a"), ("css/b.css", b"b")),
                                    ["templates"], STAMP, limits=(1, 1000))
    assert not (site_root / "css/a.css").exists()


def test_a_run_that_would_move_more_than_the_limits_says_which_setting_to_raise(settings):
    from dataclasses import replace

    from syncengine.file_plan import FileAction
    from syncengine.file_state import FileInfo
    from syncengine.file_sync import FileLimitExceeded, check_limits

    settings.ESYNC = replace(settings.ESYNC, max_files_per_run=2, max_bytes_per_run=100)
    local = {f"css/{n}.css": FileInfo(10, 0, str(n)) for n in range(3)}
    actions = [FileAction("send", path) for path in local]
    with pytest.raises(FileLimitExceeded, match="max_files_per_run"):
        check_limits(actions, local, {})
    with pytest.raises(FileLimitExceeded, match="max_bytes_per_run"):
        check_limits(actions[:2], {p: FileInfo(60, 0, "x") for p in local}, {})
    check_limits(actions[:2], local, {})


@pytest.mark.parametrize(("view", "body"), [
    ("send", b"{nope"), ("send", b'{"paths": "css/a.css"}'),
    ("delete", b'{"files": ["css/a.css"]}'), ("delta", b'[1, 2]'),
])
def test_the_file_api_refuses_a_malformed_body_with_a_reason(rf, site_root, view, body):
    from syncengine import peer_api_files
    from syncengine.peer_endpoint import Rule, peer_endpoint

    (site_root / "css").mkdir(exist_ok=True)
    (site_root / "css/a.css").write_text("a")
    request = rf.post(f"/files/{view}?items=templates&stamp={STAMP}&path=css/a.css", body,
                      content_type="application/json")
    # As the sync service serves it (the refusals are answered by the endpoint wrapper).
    response = peer_endpoint(getattr(peer_api_files, view), post=Rule.ANY_TRUSTED_PEER)(request)
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "bad_request"
    assert (site_root / "css/a.css").read_text() == "a"
