"""Attacks a trusted peer could replay against the answering server, refused with a sentence
and leaving nothing behind: the nested-symlink tar chain (CVE-2025-4517 class) sent as the
initial sync's resource folders, `pair` poisoned with server numbers past any ID range, and
file names that are not UTF-8 or go down too deep."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.sync_helpers import ANNOUNCED_CLIENT, contents, trust_both_ways


def nested_symlink_tar(escape_to: str = "../../..", planted: str = "pwned") -> bytes:
    """The CVE-2025-4517 chain: folders of 247-character names, each reached through a
    one-letter link, so that a deep link's resolved path passes PATH_MAX and the tar "data"
    filter cannot check it; that link leads to the top, a last link from the top goes
    `escape_to` up, and a file is written through it."""
    component, steps, path = "d" * 247, "abcdefghijklmnop", ""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for step in steps:
            folder = tarfile.TarInfo(os.path.join(path, component))
            folder.type = tarfile.DIRTYPE
            archive.addfile(folder)
            link = tarfile.TarInfo(os.path.join(path, step))
            link.type, link.linkname = tarfile.SYMTYPE, component
            archive.addfile(link)
            path = os.path.join(path, component)
        deep = os.path.join(*steps, "l" * 254)
        top = tarfile.TarInfo(deep)
        top.type, top.linkname = tarfile.SYMTYPE, "../" * len(steps)
        archive.addfile(top)
        escape = tarfile.TarInfo("escape")
        escape.type, escape.linkname = tarfile.SYMTYPE, f"{deep}/{escape_to}"
        archive.addfile(escape)
        body = b"written outside the staging folder"
        member = tarfile.TarInfo(f"escape/{planted}")
        member.size = len(body)
        archive.addfile(member, io.BytesIO(body))
    return buffer.getvalue()


def files_below(*folders: Path) -> dict[str, tuple]:
    """(size, mtime_ns) of every file and link below the folders; folders as ()."""
    found: dict[str, tuple] = {}
    for top in folders:
        for folder, subfolders, files in os.walk(top):
            found.update({os.path.join(folder, name): () for name in subfolders})
            for name in files:
                info = os.lstat(os.path.join(folder, name))
                found[os.path.join(folder, name)] = (info.st_size, info.st_mtime_ns)
    return found


def changed_files(before: dict, after: dict) -> list[str]:
    """What changed, leaving out the services' own logs and the database's files (the
    announcement that opens the peer's run writes rows; `contents` compares the site's)."""
    return sorted(p for p in before.keys() | after.keys()
                  if before.get(p) != after.get(p) and not p.endswith(".log")
                  and "esync.sqlite3" not in Path(p).name)


# A peer's script: `ask` records each answer ("accepted: ..." or the refusal as the peer
# client words it, "The peer at ... answered 400: <sentence>").
ASKING = ANNOUNCED_CLIENT + """
import json
from syncengine.peer_errors import PeerError
answers = {{}}
def ask(client, name, method, path, body=b"", headers=None):
    try:
        with client.open(method, path, body=body, headers={{
                "Content-Length": str(len(body)), **(headers or {{}})}}) as response:
            answers[name] = "accepted: " + b"".join(response.body).decode()
    except PeerError as error:
        answers[name] = str(error)
def frames(*headers):
    return b"".join(json.dumps(h).encode() + b"\\n" for h in headers) + b'{{"end": true}}\\n'
"""


def answers_of(instance, script: str) -> dict[str, str]:
    return json.loads(instance.python(script).strip().splitlines()[-1])


@pytest.fixture
def answering_pair(real_instances, tmp_path):
    """Staging (the peer, calling) and production (answering), trusting each other, with a
    folder outside production's home that nothing may reach."""
    staging, production = real_instances("staging"), real_instances("production")
    trust_both_ways(staging, production, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "untouched.txt").write_text("untouched")
    return staging, production, outside


RESOURCE_ATTACKS = ASKING + """
client = announced_client({port}, kind="FullStage", initial="upload", run=5)
tar = open({tar!r}, "rb").read()
ask(client, "tar chain", "POST", "/initial-sync/files", tar,
    {{"Content-Type": "application/x-tar"}})
digest = "0" * 32
ask(client, "a link in the stream", "POST", "/initial-sync/files", frames(
    {{"path": "assets/escape", "size": 0, "mtime_ns": 0, "digest": digest,
      "linkname": "../../.."}}))
parts = ["assets"] + ["d" * 247] * 16
ask(client, "a chain of long folders", "POST", "/initial-sync/files", frames(
    *[{{"path": "/".join(parts[:end]), "folder": True}} for end in range(2, len(parts) + 1)]))
ask(client, "a name that is not UTF-8", "POST", "/initial-sync/files", frames(
    {{"path": "assets/\\udcff.png", "size": 0, "mtime_ns": 0, "digest": digest}}))
print(json.dumps(answers))
"""


@pytest.mark.slow
def test_the_nested_symlink_tar_chain_sent_as_resource_folders_is_refused_and_writes_nothing(
        answering_pair, tmp_path):
    # given production waiting for an initial copy from staging
    staging, production, outside = answering_pair
    chain = tmp_path / "chain.tar"
    chain.write_bytes(nested_symlink_tar(escape_to="../../../../outside"))
    site_before = contents(production)
    with production.sync_serving():
        before = files_below(production.home, outside)
        # when staging sends the CVE-2025-4517 chain, and its framed-stream equivalents
        answers = answers_of(staging, RESOURCE_ATTACKS.format(port=production.sync_port,
                                                              tar=str(chain)))
        after = files_below(production.home, outside)
    # then each is refused with a sentence, and nothing was written or left staged
    reasons = {"tar chain": "the resource folders' stream was refused: a file header",
               "a link in the stream": "links and anything else are not accepted",
               "a chain of long folders": "is a path too long for this server",
               "a name that is not UTF-8": "is not a UTF-8 name"}
    for name, answer in answers.items():
        assert "answered 400: " in answer and reasons[name] in answer, (name, answer)
    assert changed_files(before, after) == []
    assert contents(production) == site_before
    assert not list((production.home / "state" / "incoming").glob("resources-*"))
    assert not [p for p in tmp_path.rglob("pwned")]


PAIR_POISONING = ASKING + """
from certificates.models import TrustedPeer
from relationships.numbering import MAX_SERVER_NUMBER
from syncengine.peer_client import PeerClient
client = PeerClient.for_peer(TrustedPeer.objects.get(), "127.0.0.1", {port})
for name, payload in [
        ("an implausible jump", {{"highest_known": 5000}}),
        ("ten million servers", {{"highest_known": 10_000_000}}),
        ("past 63 bits", {{"highest_known": 2**63}}),
        ("the last number and more", {{"number": MAX_SERVER_NUMBER + 1, "highest_known": 0}}),
        ("negative", {{"number": -1, "highest_known": 0}}),
        ("a text", {{"highest_known": "5"}}),
        ("a fraction", {{"highest_known": 5.0}}),
        ("true", {{"highest_known": True}}),
        ("a list", {{"highest_known": [1]}}),
        ("its own number", {{"number": 1, "highest_known": 1}})]:
    ask(client, name, "POST", "/pair", json.dumps(
        {{"number": None, "you_are": "destination", **payload}}).encode())
ask(client, "not an object", "POST", "/pair", b"[1, 2]")
ask(client, "nested", "POST", "/pair", b"[" * 3000 + b"]" * 3000)
print(json.dumps(answers))
"""
NUMBERING = """
from relationships.numbering import current
print(current().as_dict())
"""


@pytest.mark.slow
def test_pair_poisoned_with_server_numbers_is_refused_and_the_numbering_stays(answering_pair):
    # given production, server 1 of its configuration
    staging, production, _ = answering_pair
    production.python("from relationships.server_identity import assign_server_number\n"
                      "assign_server_number(1)")
    numbering_before = production.python(NUMBERING)
    with production.sync_serving():
        # when staging asks to pair with numbers no configuration can have
        answers = answers_of(staging, PAIR_POISONING.format(port=production.sync_port))
    # then each is refused with the reason, and production's numbering is as it was
    for name, answer in answers.items():
        assert "answered 4" in answer, (name, answer)
    assert "a jump of more than 1000 is refused" in answers["an implausible jump"]
    for name in ("ten million servers", "past 63 bits"):
        assert "highest_known must be a whole number from 0 to 9223371" in answers[name]
    assert "number must be empty or a whole number from 1 to 9223372" in \
        answers["the last number and more"]
    for name in ("a text", "a fraction", "true", "a list"):
        assert "highest_known must be a whole number" in answers[name], name
    assert "which is this instance's own" in answers["its own number"]
    assert "is a JSON object" in answers["not an object"]
    assert production.python(NUMBERING) == numbering_before


@pytest.mark.slow
def test_a_pairing_answer_with_an_implausible_number_is_refused_and_nothing_is_created(
        answering_pair):
    # given production, which believes (wrongly, or to harm) that 10,000,000 servers exist
    staging, production, _ = answering_pair
    production.python("from relationships.server_identity import get_server_info\n"
                      "info = get_server_info(); info.highest_known_number = 10_000_000\n"
                      "info.save()")
    numbering_before = staging.python(NUMBERING)
    with production.sync_serving():
        # when staging creates a relationship with it
        created = staging.esync("relationship", "create", "--remote",
                                f"127.0.0.1:{production.sync_port}", "--certificate",
                                "production", "--initial-direction", "upload", check=False)
    # then staging refuses the numbers it was answered, and keeps its own
    assert created.returncode != 0
    assert "server numbers this instance does not accept" in created.stdout + created.stderr
    assert staging.python(NUMBERING) == numbering_before
    assert json.loads(staging.esync("relationship", "list", "--json").stdout) == []


FILE_NAME_ATTACKS = ASKING + """
client = announced_client({port}, items=["templates"])
query = "?items=templates&stamp=20261125-120000-run1"
def landing(path):
    body = b"x"
    return (json.dumps({{"path": path, "size": 1, "mtime_ns": 0,
                         "digest": "{digest}"}}).encode() + b"\\n" + body
            + b'{{"end": true}}\\n')
for name, path in [("a second name", "css/caf\\udcc3\\udca9.css"),
                   ("a lone surrogate", "css/\\ud800.css"),
                   ("deep", "css/" + "d/" * 100 + "x.css"),
                   ("long", "css/" + ("\\u00e9" * 120 + "/") * 20 + "x.css")]:
    ask(client, "receive " + name, "POST", "/files/receive" + query, landing(path))
    ask(client, "send " + name, "POST", "/files/send" + query,
        json.dumps({{"paths": [path]}}).encode())
    ask(client, "delete " + name, "POST", "/files/delete" + query,
        json.dumps({{"files": {{path: "0"}}}}).encode())
print(json.dumps(answers))
"""


@pytest.mark.slow
def test_file_names_no_disk_can_hold_or_too_deep_are_refused_on_the_file_api(answering_pair):
    import xxhash

    # given production, where staging's profile writes templates
    staging, production, outside = answering_pair
    site_before = contents(production)
    with production.sync_serving():
        before = files_below(production.home, outside)
        # when staging names files no disk can hold, or that go down too deep or too long
        answers = answers_of(staging, FILE_NAME_ATTACKS.format(
            port=production.sync_port, digest=xxhash.xxh3_128_hexdigest(b"x")))
        after = files_below(production.home, outside)
    # then each file is refused alone with the reason, and nothing was written
    reason = {"a second name": "holds characters no file system name can",
              "a lone surrogate": "holds characters no file system name can",
              "deep": "has more than 64 names", "long": "a path too long"}
    for name, answer in answers.items():
        assert answer.startswith("accepted: "), (name, answer[:300])
        call, _, kind = name.partition(" ")
        assert reason[kind] in answer, (name, answer[:300])
        if call in ("receive", "delete"):
            outcome = json.loads(answer.removeprefix("accepted: "))
            assert not outcome.get("landed") and not outcome.get("deleted"), (name, outcome)
            assert len(outcome["refused"]) == 1, (name, outcome)
    assert changed_files(before, after) == []
    assert contents(production) == site_before


def test_a_loop_of_links_in_the_site_root_is_refused_with_a_reason(settings, tmp_path):
    from syncengine.file_transfer import FileRefused, target_of

    # given a site root with a link that leads to itself
    settings.SITE_ROOT = tmp_path
    (tmp_path / "css").mkdir()
    os.symlink(tmp_path / "css" / "loop", tmp_path / "css" / "loop")
    # when a peer names a file through it, then it is refused, not an error
    with pytest.raises(FileRefused, match="a loop of links"):
        target_of("css/loop/a.css", ["templates"])


BAD_INITIAL_COPY = ASKING + """
from syncengine.table_copy import synced_models
client = announced_client({port}, kind="FullStage", initial="upload", run=5)
ask(client, "files", "POST", "/initial-sync/files", frames())
token = json.loads(answers.pop("files").removeprefix("accepted: "))["token"]
folder = next(m for m in synced_models() if m._meta.db_table == "cms_folder")
columns = [f.attname for f in folder._meta.concrete_fields]
def copy(**values):
    row = [values.get(c) for c in columns]
    return (json.dumps({{"table": "cms_folder", "columns": columns}}) + "\\n"
            + json.dumps(row) + "\\n").encode()
for name, values in [("a time that is a number", {{"id": 1, "name": "x", "created_at": 5}}),
                     ("a time that is no time", {{"id": 1, "name": "x", "created_at": "soon"}}),
                     ("an id that is a text", {{"id": "one", "name": "x"}})]:
    ask(client, name, "POST", f"/initial-sync/database?files={{token}}", copy(**values),
        {{"X-Esync-Source-Rows": "1000"}})
    ask(client, "files", "POST", "/initial-sync/files", frames())
    token = json.loads(answers.pop("files").removeprefix("accepted: "))["token"]
print(json.dumps(answers))
"""


@pytest.mark.slow
def test_an_initial_copy_with_values_its_columns_cannot_take_is_refused_with_a_reason(
        answering_pair):
    # given production waiting for an initial copy from staging, its resource folders staged
    staging, production, _ = answering_pair
    site_before = contents(production)
    with production.sync_serving():
        # when the copy holds values that are not of their columns' types
        answers = answers_of(staging, BAD_INITIAL_COPY.format(port=production.sync_port))
    # then each copy is refused with a sentence (not a 500), and nothing of it applied
    for name, answer in answers.items():
        assert "answered 400: a row of" in answer or \
            "answered 409: the copy could not be applied" in answer, (name, answer)
    assert contents(production) == site_before
