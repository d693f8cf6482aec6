"""The initial sync's resource folders travel as a framed, checked file stream: a normal copy
arrives exactly, a hostile one (links, `..`, absolute paths, names not UTF-8, huge sizes,
truncated frames, the nested-link chain that beat tar's "data" filter) is refused and writes
nothing outside state/incoming/, and one staged upload is kept at a time."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest
import xxhash
from django.conf import settings
from django.test import RequestFactory

from cms.site_root import RESOURCE_FOLDERS, create_site_root
from syncengine import resource_files
from syncengine.peer_endpoint import PeerRequestRefused
from syncengine.resource_files import ResourcesBusy, ResourceStreamRejected

MTIME = 1_700_000_000_123_456_789


@pytest.fixture
def instance(settings, tmp_path) -> dict[str, Path]:
    """This instance's own home and site root, and a sentinel folder beside them."""
    home, root, sentinel = tmp_path / "home", tmp_path / "siteroot", tmp_path / "sentinel"
    home.mkdir()
    (home / "esync.toml").write_text("name = 'x'\n")
    create_site_root(root)
    sentinel.mkdir()
    (sentinel / "keep.txt").write_text("untouched")
    settings.ESYNC = dataclasses.replace(settings.ESYNC, home=home)
    settings.SITE_ROOT = root
    return {"home": home, "root": root, "sentinel": sentinel, "top": tmp_path}


def tree(folder: Path, skip: Path | None = None) -> dict[str, object]:
    """Every entry below `folder` (links as links): kind, content digest, mtime."""
    seen: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        relative = str(path.relative_to(folder))
        if path.is_symlink():
            seen[relative] = ("link", os.readlink(path))
        elif path.is_dir():
            seen[relative] = ("folder",)
        else:
            seen[relative] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(),
                              path.stat().st_mtime_ns)
    return seen


def outside_incoming(instance) -> dict[str, object]:
    return tree(instance["top"], skip=instance["home"] / "state")


def incoming(instance) -> list[str]:
    folder = instance["home"] / "state" / "incoming"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def header(**fields) -> bytes:
    return json.dumps(fields).encode() + b"\n"


def file_frame(path: str, body: bytes = b"data", **override) -> list[bytes]:
    fields = {"path": path, "size": len(body), "mtime_ns": MTIME,
              "digest": xxhash.xxh3_128_hexdigest(body), **override}
    return [header(**fields), body]


END = header(end=True)


# -- a normal copy ----------------------------------------------------------------------------

def build_source(root: Path) -> dict[str, bytes]:
    files = {
        "assets/logo.png": b"\x89PNG" + bytes(range(256)) * 40,
        "assets/css/deep/er/site.css": b"body{}",
        "assets/empty.txt": b"",
        "privateassets/contracts/2026/a.pdf": b"%PDF secret",
        "uploadedimages/photos/caf\u00e9 au lait.jpg": b"jpeg" * 1000,
        "uploadedfiles/readme.config": b"<config/>",
        "uploadedfiles/nested/zero": b"",
    }
    for relative, body in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        os.utime(path, ns=(MTIME, MTIME))
    (root / "assets/empty-folder/inner").mkdir(parents=True)
    (root / "uploadedimages/link-out").symlink_to("/etc")  # links are not sent
    (root / "assets/.esync-partial").write_bytes(b"half")  # nor esync's own files
    return files


def test_a_normal_copy_arrives_exactly_and_replaces_the_destination_folders(instance,
                                                                           tmp_path):
    source_root = tmp_path / "source-root"
    create_site_root(source_root)
    sent = build_source(source_root)
    settings.SITE_ROOT = source_root
    stream = list(resource_files.export().chunks())
    settings.SITE_ROOT = instance["root"]
    old = instance["root"] / "assets" / "old.css"
    old.write_text("replaced by the copy")
    (instance["root"] / "templates" / "mine.html").write_text("not a resource folder")

    token = resource_files.stage(stream, owner="run-1")
    assert not old.parent.joinpath("logo.png").exists()  # nothing in place before the swap
    assert resource_files.install(token, owner="run-1") == len(sent)

    expected = {k: v for k, v in tree(source_root).items()
                if k.split("/")[0] in RESOURCE_FOLDERS and "link-out" not in k
                and ".esync-" not in k}
    arrived = {k: v for k, v in tree(instance["root"]).items()
               if k.split("/")[0] in RESOURCE_FOLDERS}
    assert arrived == expected
    assert "assets/empty-folder/inner" in arrived and arrived["assets/empty.txt"][2] == MTIME
    assert not old.exists()
    assert (instance["root"] / "templates" / "mine.html").exists()
    assert incoming(instance) == []


def test_the_stream_arrives_whole_however_it_is_cut_and_deep_paths_fit(instance):
    deep = "assets/" + "a/" * 62 + "leaf.txt"  # as deep as accepted (64 names)
    stream = b"".join([header(path="uploadedfiles/empty", folder=True),
                       *file_frame(deep, b"deep"), *file_frame("assets/b", b"x" * 5000), END])
    token = resource_files.stage([stream[i:i + 7] for i in range(0, len(stream), 7)])
    assert resource_files.install(token) == 2
    assert (instance["root"] / deep).read_bytes() == b"deep"
    assert (instance["root"] / "assets/b").stat().st_mtime_ns == MTIME
    assert (instance["root"] / "uploadedfiles/empty").is_dir()


def test_a_swap_that_fails_part_way_puts_back_what_was_there(instance):
    import shutil
    import subprocess

    root = instance["root"]
    for name in RESOURCE_FOLDERS:
        (root / name / "was-here").write_text(name)
    before = tree(root)
    token = resource_files.stage([*file_frame("assets/new"), *file_frame("uploadedfiles/new"),
                                  END])
    last = root / RESOURCE_FOLDERS[-1]  # the last folder swapped cannot be moved
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(last)], capture_output=True).returncode:
        pytest.skip("needs chattr +i (root, on a file system that has it)")
    try:
        with pytest.raises(PermissionError):
            resource_files.install(token)
    finally:
        subprocess.run(["chattr", "-i", str(last)], check=True)
    assert tree(root) == before
    assert incoming(instance) == []


def test_the_swap_works_with_the_site_root_on_another_disk(instance, tmp_path):
    other_disk = Path("/dev/shm")
    if not other_disk.is_dir() or \
            os.stat(other_disk).st_dev == os.stat(instance["home"]).st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's home")
    root = other_disk / f"esync-root-{os.getpid()}-{time.monotonic_ns()}"
    try:
        create_site_root(root)
        (root / "privateassets" / "old.pdf").write_text("old")
        settings.SITE_ROOT = root
        token = resource_files.stage([*file_frame("privateassets/new/a.pdf", b"new"), END])
        assert resource_files.install(token) == 1
        assert (root / "privateassets/new/a.pdf").read_bytes() == b"new"
        assert not (root / "privateassets/old.pdf").exists()
        assert sorted(p.name for p in root.iterdir()) == sorted(
            ["bin", "templates", "workarea", *RESOURCE_FOLDERS])  # no copy left beside
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


# -- hostile streams --------------------------------------------------------------------------

def nested_link_chain() -> list[bytes]:
    """CVE-2025-4517's shape in this format's words: folders with long names nested past
    PATH_MAX, then links that climb back out through them."""
    chunks, path = [], "assets"
    for _ in range(17):
        path += "/" + "d" * 247
        chunks.append(header(path=path, folder=True))
    chunks.append(header(path="assets/l", link="../" * 40 + "home/esync.toml"))
    chunks += file_frame("assets/l/escape", b"owned")
    return [*chunks, END]


HOSTILE = {
    "nested link chain": nested_link_chain(),
    "a link header": [header(path="assets/up", link="../../.."), END],
    "a symlink type": [header(path="assets/up", type="symlink", linkname="/etc"), END],
    "a hard link": [*file_frame("assets/a", hardlink="../../home/esync.toml"), END],
    "a mode with the set-uid bit": [*file_frame("assets/a", mode=0o4755), END],
    "dot dot": [*file_frame("../escape.txt"), END],
    "dot dot inside": [*file_frame("assets/../../escape.txt"), END],
    "dot dot deeper": [*file_frame("assets/x/../../../home/esync.toml"), END],
    "dot": [*file_frame("assets/./a"), END],
    "empty part": [*file_frame("assets//a"), END],
    "absolute": [*file_frame("/etc/cron.d/evil"), END],
    "absolute in the home": [*file_frame("/tmp/escape"), END],
    "backslash": [*file_frame("assets\\..\\..\\escape"), END],
    "NUL": [*file_frame("assets/a\x00b"), END],
    "newline": [*file_frame("assets/a\nb"), END],
    "outside the four folders": [*file_frame("workarea/x.aspx"), END],
    "the templates": [*file_frame("templates/page.html"), END],
    "bin": [*file_frame("bin/evil.dll"), END],
    "a file at the top": [*file_frame("escape.txt"), END],
    "a top folder as a file": [*file_frame("assets"), END],
    "another case": [*file_frame("Assets/a"), END],
    "esync's own name": [*file_frame("assets/.esync-x"), END],
    "a lone surrogate": [header(path="assets/\udcff", size=1, mtime_ns=MTIME,
                                digest=xxhash.xxh3_128_hexdigest(b"x")), b"x", END],
    "bytes not UTF-8": [b'{"path":"assets/\xff\xfe","size":0,"mtime_ns":0,"digest":"'
                        + xxhash.xxh3_128_hexdigest(b"").encode() + b'"}\n', END],
    "a name past 255 bytes": [*file_frame("assets/" + "n" * 256), END],
    "a path too deep": [*file_frame("assets/" + "a/" * 63 + "leaf.txt"), END],
    "a path past PATH_MAX": [*file_frame("assets/" + "/".join(["p" * 200] * 20)), END],
    "a huge size": [header(path="assets/a", size=2**70, mtime_ns=MTIME, digest="0" * 32),
                    END],
    "a negative size": [header(path="assets/a", size=-1, mtime_ns=MTIME, digest="0" * 32),
                        END],
    "a size that is true": [header(path="assets/a", size=True, mtime_ns=MTIME,
                                   digest="0" * 32), b"x", END],
    "a size as text": [header(path="assets/a", size="4", mtime_ns=MTIME, digest="0" * 32),
                       b"data", END],
    "an mtime past 64 bits": [*file_frame("assets/a", mtime_ns=2**64), END],
    "a digest that is not one": [*file_frame("assets/a", digest="../../x"), END],
    "a damaged file": [*file_frame("assets/a", b"data", digest="0" * 32), END],
    "a body shorter than its size": [*file_frame("assets/a", b"data", size=10), END],
    "no end marker": [*file_frame("assets/a")],
    "cut in a header": [b'{"path":"assets/a","si'],
    "cut in a body": [header(path="assets/a", size=100, mtime_ns=MTIME, digest="0" * 32),
                      b"short"],
    "a header past 64 KB": [b'{"path":"' + b"a" * 70_000],
    "not JSON": [b"\x1f\x8b\x08 a gzip, say\n"],
    "not an object": [b"[1, 2]\n", END],
    "a tar": [b"assets/x" + bytes(504) + b"x" * 512],
    "twice the same file": [*file_frame("assets/a"), *file_frame("assets/a"), END],
    "a file then a folder of its name": [*file_frame("assets/a"),
                                         *file_frame("assets/a/b"), END],
    "a folder then a file of its name": [header(path="assets/a", folder=True),
                                         *file_frame("assets/a"), END],
    "a folder header with more": [header(path="assets/a", folder=True, link="/"), END],
    "a folder that is not true": [header(path="assets/a", folder="yes"), END],
    "a folder outside": [header(path="../x", folder=True), END],
    "an end marker with more": [header(end=True, path="/etc/passwd")],
    "data after the end": [*file_frame("assets/a"), END, *file_frame("../../escape")],
}


@pytest.mark.parametrize("stream", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_stream_is_refused_and_writes_nothing_outside_incoming(instance, stream):
    before = outside_incoming(instance)
    with pytest.raises(ResourceStreamRejected) as refused:
        resource_files.stage(stream)
    assert str(refused.value) and len(str(refused.value)) < 1000
    assert outside_incoming(instance) == before
    assert incoming(instance) == []


def test_the_refusal_names_what_is_wrong(instance):
    cases = {
        "a link header": "links and anything else are not accepted",
        "dot dot inside": "leads outside the resource folders",
        "absolute": "is an absolute path",
        "a lone surrogate": "is not a UTF-8 name",
        "the templates": "is not inside one of the resource folders",
        "a huge size": "limit",
        "a damaged file": "arrived damaged",
        "no end marker": "no end marker",
        "nested link chain": "too long for this server",
        "a path too deep": "more than 64 folders",
    }
    for name, words in cases.items():
        with pytest.raises(ResourceStreamRejected, match=words):
            resource_files.stage(HOSTILE[name])


def test_the_run_limits_bound_the_stream(instance, settings):
    settings.ESYNC = dataclasses.replace(settings.ESYNC, max_files_per_run=2,
                                         max_bytes_per_run=10)
    with pytest.raises(ResourceStreamRejected, match="limit of 2 files or 10 bytes"):
        resource_files.stage([*file_frame("assets/a", b"x" * 11), END])
    with pytest.raises(ResourceStreamRejected, match="limit of 2 files"):
        resource_files.stage([*file_frame("assets/a", b""), *file_frame("assets/b", b""),
                              *file_frame("assets/c", b""), END])
    with pytest.raises(ResourceStreamRejected, match="past the"):  # headers count too
        resource_files.stage([header(path="assets/a", folder=True)] * 10_000 + [END])
    assert incoming(instance) == []


# -- one staged upload at a time --------------------------------------------------------------

def test_a_new_upload_replaces_the_one_staged_before_it(instance):
    first = resource_files.stage([*file_frame("assets/first"), END], owner="peer-run-1")
    second = resource_files.stage([*file_frame("assets/second"), END], owner="peer-run-2")
    assert incoming(instance) == [f"resources-{second}"]
    with pytest.raises(ResourceStreamRejected, match="another upload replaced them"):
        resource_files.install(first, owner="peer-run-1")
    with pytest.raises(ResourceStreamRejected, match="belong to another run"):
        resource_files.install(second, owner="peer-run-1")
    assert resource_files.install(second, owner="peer-run-2") == 1
    assert (instance["root"] / "assets" / "second").exists()
    assert incoming(instance) == []


def test_a_second_upload_while_one_is_received_is_refused(instance):
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def slow_stream():
        yield from file_frame("assets/slow")
        started.set()
        release.wait(60)
        yield END

    def receive():
        outcome["token"] = resource_files.stage(slow_stream())

    worker = threading.Thread(target=receive)
    worker.start()
    try:
        assert started.wait(60)
        with pytest.raises(ResourcesBusy, match="one at a time: try again when that run"):
            resource_files.stage([*file_frame("assets/intruder"), END])
        assert resource_files.discard_staged() == 0  # the one in use is left to its run
    finally:
        release.set()
        worker.join(60)
    assert resource_files.install(outcome["token"]) == 1
    assert not (instance["root"] / "assets" / "intruder").exists()


def test_an_upload_is_refused_while_a_copy_is_being_put_in_place(instance):
    token = resource_files.stage([*file_frame("assets/a"), END])
    with resource_files.claimed(token) as staged:
        with pytest.raises(ResourcesBusy):
            resource_files.stage([*file_frame("assets/b"), END])
        staged.install()
    assert (instance["root"] / "assets" / "a").exists()


def test_a_copy_that_fails_removes_its_staged_folders_and_changes_nothing(instance):
    before = outside_incoming(instance)
    token = resource_files.stage([*file_frame("assets/a"), END])
    with pytest.raises(RuntimeError), resource_files.claimed(token):
        raise RuntimeError("the database copy failed")
    assert incoming(instance) == []
    assert outside_incoming(instance) == before


@pytest.mark.django_db(transaction=True)
def test_stale_incoming_leftovers_are_removed(instance):
    from syncengine.models import SyncRun

    folder = instance["home"] / "state" / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    old, fresh = folder / "0123.part", folder / "4567.part"
    old.write_bytes(b"old")
    fresh.write_bytes(b"fresh")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    ended = SyncRun.objects.create(kind="FullStage", direction="download", status="failed")
    running = SyncRun.objects.create(kind="FullStage", direction="download",
                                     status="running")
    resource_files.stage([*file_frame("assets/a"), END],
                         owner=resource_files.local_run_owner(ended))
    abandoned = next(name for name in incoming(instance) if name.startswith("resources-"))
    removed = resource_files.remove_stale_incoming()
    assert sorted(removed) == sorted(["0123.part", abandoned])
    assert incoming(instance) == ["4567.part"]
    token = resource_files.stage([*file_frame("assets/a"), END],
                                 owner=resource_files.local_run_owner(running))
    assert resource_files.remove_stale_incoming() == []  # its run goes on
    assert incoming(instance) == sorted(["4567.part", f"resources-{token}"])


def test_a_name_that_cannot_travel_stops_the_export_with_a_sentence(instance):
    bad = os.fsencode(instance["root"] / "uploadedfiles") + b"/caf\xe9.txt"
    with open(bad, "wb") as out:
        out.write(b"latin-1 name")
    with pytest.raises(ResourceStreamRejected, match="not a UTF-8 name. Rename it"):
        resource_files.export()


# -- the views --------------------------------------------------------------------------------

class _Peer:
    name = "production"


def _post(path: str, body: bytes, **headers):
    request = RequestFactory().post(path, data=body, content_type="application/octet-stream",
                                    **headers)
    request.peer, request.grant, request.incoming_run = _Peer(), None, None
    return request


@pytest.mark.django_db(transaction=True)
def test_the_views_refuse_with_a_4xx_and_a_sentence(instance):
    from relationships.server_identity import get_server_info
    from syncengine import peer_api_initial

    stream = b"".join(HOSTILE["nested link chain"])
    with pytest.raises(PeerRequestRefused) as refused:
        peer_api_initial.initial_sync_files(_post("/esync/v1/initial-sync/files", stream))
    assert (refused.value.status, refused.value.code) == (400, "files_rejected")
    with pytest.raises(ResourceStreamRejected, match="token is missing or malformed"):
        peer_api_initial.initial_sync_database(
            _post("/esync/v1/initial-sync/database?files=../../x", b"",
                  HTTP_X_ESYNC_SOURCE_ROWS="1"))
    with pytest.raises(PeerRequestRefused, match="row count"):
        peer_api_initial.initial_sync_database(
            _post("/esync/v1/initial-sync/database?files=" + "a" * 32, b"",
                  HTTP_X_ESYNC_SOURCE_ROWS="99999999999999999999999"))
    with pytest.raises(PeerRequestRefused) as refused:
        peer_api_initial.initial_sync_database(
            _post("/esync/v1/initial-sync/database?files=" + "a" * 32, b"",
                  HTTP_X_ESYNC_SOURCE_ROWS="999999"))
    assert (refused.value.status, refused.value.code) == (409, "files_not_staged")
    good = b"".join([*file_frame("assets/a"), END])
    answer = peer_api_initial.initial_sync_files(_post("/esync/v1/initial-sync/files", good))
    assert answer.status_code == 200 and json.loads(answer.content)["token"]
    info = get_server_info()
    info.staged_at = "2026-01-01T00:00Z"
    info.save()
    with pytest.raises(PeerRequestRefused) as refused:
        peer_api_initial.initial_sync_files(_post("/esync/v1/initial-sync/files", good))
    assert (refused.value.status, refused.value.code) == (409, "already_staged")
    assert not (instance["root"] / "assets" / "a").exists()


# -- end to end -------------------------------------------------------------------------------

ADD_FILES = """
import os
from pathlib import Path
from django.conf import settings
root = Path(settings.SITE_ROOT)
for relative, body in {files!r}.items():
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
(root / "uploadedfiles/empty-folder/inner").mkdir(parents=True, exist_ok=True)
"""
LIST_TREE = """
import json, os
from pathlib import Path
from django.conf import settings
root = Path(settings.SITE_ROOT)
print(json.dumps(sorted(
    [str(p.relative_to(root)) + ("/" if p.is_dir() else f" {{p.stat().st_size}}")
     for name in {folders!r} for p in (root / name).rglob("*")])))
"""


@pytest.mark.slow
def test_two_instances_copy_the_four_folders_exactly(real_instances, tmp_path):
    from tests.sync_helpers import contents, create_relationship, seed, trust_both_ways

    staging, production = real_instances("staging"), real_instances("production")
    seed(staging)
    staging.python(ADD_FILES.format(files={
        "assets/css/deep/er/site.css": b"body{}", "privateassets/empty.txt": b"",
        "uploadedimages/a/b/c/photo.jpg": bytes(range(256)) * 300,
        "uploadedfiles/report.config": b"<x/>"}))
    production.python(ADD_FILES.format(files={"assets/old.css": b"replaced"}))
    trust_both_ways(staging, production, tmp_path)
    with production.sync_serving(), staging.serving():
        relationship = create_relationship(staging, production, "upload")
        result = staging.esync("initial-sync", str(relationship), "--wait")
    assert "Success:" in result.stdout, result.stdout
    listing = LIST_TREE.format(folders=RESOURCE_FOLDERS)
    assert json.loads(production.python(listing)) == json.loads(staging.python(listing))
    assert contents(production)["files"] == contents(staging)["files"]
    assert "uploadedfiles/empty-folder/inner/" in json.loads(production.python(listing))
    assert "assets/old.css" not in contents(production)["files"]
    assert not list((production.home / "state" / "incoming").iterdir())
