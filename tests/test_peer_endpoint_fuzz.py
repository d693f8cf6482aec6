"""Whatever a trusted peer sends to any endpoint of the peer API, the answer is below 500; a
refused request leaves every table and every file as it was, and no request writes outside
the site root and this instance's state.

Given an answering instance (its own home, site root, and a sentinel folder beside them), a
trusted peer with relationships announced here and runs in progress, when that peer sends
generated bodies, query strings and headers to every endpoint of the URLconf, then each
answer is a 4xx with a sentence or a success, and nothing changed where it must not.
Requests go through the sync service's Django stack in this process (its middleware
attributes them to the peer by its client certificate, as the TLS layer hands it over).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.db import connection, transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esync_site import peer_urls
from syncengine.peer_auth import SYNC_SERVICE_ENVIRON_KEY
from syncengine.peer_endpoint import Rule

pytestmark = pytest.mark.django_db

EXAMPLES = 60  # per endpoint: the whole file takes well under two minutes
STAMP = "20261125-120000-run7"
# (relationship, run) headers: none, the announced ones, and ones this instance must refuse.
IDENTITIES = [(None, None), ("1", "7"), ("1", "8"), ("2", "9"), ("1", "999"), ("3", "7"),
              ("²", "²"), ("99999999999999999999", "7"), ("-1", "-1"), ("1 ", " 7"), ("", "")]
ROUTES = [(f"/{p.pattern}", p.callback) for p in peer_urls.urlpatterns]

# -- what a peer could put in a request --------------------------------------------------------

NAMES = ["css/a.css", "css/new/b.css", "uploadedfiles/a.bin", "assets/img/a.png", "bin/tool.dll",
         "workarea/page.html", "web.config", "css/notes.txt", "page.html", "css", "",
         ".", "css//a.css", "css\\a.css", "../../etc/passwd", "css/../../esync.toml",
         "/etc/passwd", "css/bad\x00name.css", "css/\udcff.css", "css/\ud800.css",
         "css/\u202e.css", "css/" + "x" * 300 + ".css", "css/" + "d/" * 200 + "x.css",
         "css/" + ("é" * 120 + "/") * 40 + "x.css", "../SENTINEL/pwned.css",
         "css/../../../SENTINEL/pwned.css", "SENTINEL_ABSOLUTE/pwned.css",
         "uploadedimages/.esync-old/x", "privateassets/secret.bin"]
NUMBERS = [0, 1, -1, 7, 2**31, 2**63 - 1, 2**63, -2**63 - 1, 2**64, 10**30, 10_000_000]
NUMBER_TEXTS = ["0", "1", "-1", "7", "18446744073709551616", "9" * 5000, "1e9", " 1", "1_000",
                "²", "٣", "0x10", "", "nan"]
ITEMS = ["templates", "database", "workarea", "bin", "templates,bin,workarea,database", "",
         "nope", "templates,,", "TEMPLATES"]
DIGESTS = ["0" * 32, "x", "", "a" * 129, "../x", "ffffffffffffffffffffffffffffffff"]
JSON_KEYS = ["paths", "files", "blocks", "anchors", "size", "collisions", "content", "number",
             "highest_known", "you_are", "relationship", "run", "profiles",
             "initial_direction", "local_site", "remote_site", "id", "name", "items",
             "direction", "filter", "extensions", "kind", "stamp", "table", "row_id",
             "original_name", "modified_name", "path", "mtime_ns", "digest", "folder", "end",
             "missing", "replaces", "t", "k", "op", "seq", "row", "mark"]

# Files a profile writing templates may land here, mostly; else any of the names above.
names = st.sampled_from((True, True, False)).flatmap(lambda usual: st.sampled_from(
    ["css/a.css", "css/new/b.css", "page.html"] if usual else NAMES))
texts = st.one_of(names, st.text(max_size=20), st.sampled_from(
    ["source", "destination", "upload", "download", "bidirectional", "FullStage", "FullSync",
     "templates", "database", STAMP, "x" * 100_000, "nan", "2001", "'; DROP TABLE cms_user"]))
leaves = st.one_of(st.none(), st.booleans(), st.sampled_from(NUMBERS), st.integers(),
                   st.floats(allow_nan=True, allow_infinity=True), texts)
json_values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(JSON_KEYS), st.text(max_size=6)), inner,
                    max_size=5)), max_leaves=15)


def usually(times: int = 4) -> st.SearchStrategy[bool]:
    """True `times` in `times + 1`, and more often still as examples get simpler."""
    return st.sampled_from((True,) * times + (False,))


def mostly(draw, usual, other):
    """`usual` four times in five or more, else a draw of `other`."""
    return usual if draw(usually()) else draw(other)


def encoded(value: object) -> bytes:
    """JSON as a peer may write it: NaN, lone surrogates and all."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


@st.composite
def shaped_bodies(draw) -> bytes:
    """An object with the fields some endpoint reads, each of a generated value."""
    fields = draw(st.sets(st.sampled_from(JSON_KEYS), min_size=1, max_size=4))
    return encoded({f: draw(json_values) for f in fields})


def objects(**fields: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    """A JSON object of these fields, each value from its strategy mostly, else any JSON
    value; now and then a field left out."""
    @st.composite
    def drawn(draw) -> bytes:
        return encoded({name: mostly(draw, draw(values), json_values)
                        for name, values in fields.items() if draw(usually(7))})

    return drawn()


numbers = st.one_of(st.sampled_from(NUMBERS), st.integers())
profiles = objects(id=numbers, name=texts, items=st.lists(st.sampled_from(
    ["database", "templates", "bin", "workarea", "nope"])), direction=st.sampled_from(
    ["upload", "download", "bidirectional", "sideways"]), filter=st.sampled_from(
    ["none", "include", "exclude", "x"]), extensions=texts).map(json.loads)


@st.composite
def framed_streams(draw, names: st.SearchStrategy = names) -> bytes:
    """A file stream's frames: mostly well formed, with generated paths and fields."""
    out = b""
    for _ in range(draw(st.integers(1, 3))):
        body = draw(st.binary(max_size=8))
        header = {"path": mostly(draw, draw(names), json_values),
                  "size": mostly(draw, len(body), numbers),
                  "mtime_ns": mostly(draw, 1_700_000_000 * 10**9, numbers),
                  "digest": mostly(draw, _digest(body), st.sampled_from(DIGESTS))}
        header.update(draw(st.dictionaries(st.sampled_from(
            ["folder", "missing", "replaces", "linkname", "type", "end"]), json_values,
            max_size=2)))
        out += encoded(header) + b"\n" + body
    if draw(usually()):
        out += b'{"end": true}\n'
    return out


@st.composite
def change_sets(draw) -> bytes:
    """A mark line, then changes of synced tables whose values are generated."""
    from syncengine.change_sets import specs_by_name

    specs = specs_by_name()
    lines = [encoded({"mark": mostly(draw, 5, numbers)})]
    for _ in range(draw(st.integers(1, 3))):
        spec = specs[draw(st.sampled_from(sorted(specs)))]
        row = {column: draw(leaves) for column in spec.columns}
        key = [mostly(draw, draw(st.integers(1, 50)), st.one_of(numbers, texts))
               for _ in spec.pk]
        row.update(zip(spec.pk, key, strict=True))
        op = draw(st.sampled_from(["I", "U", "D", "X"]))
        lines.append(encoded({"t": spec.name, "k": key, "op": op,
                              "seq": mostly(draw, draw(st.integers(0, 99)), leaves),
                              "row": None if op == "D" else row}))
    return b"\n".join(lines) + b"\n"


@st.composite
def copy_streams(draw) -> bytes:
    """The initial copy's stream: table headers, then rows of generated values."""
    from syncengine.change_sets import specs_by_name

    specs = specs_by_name()
    lines = []
    for _ in range(draw(st.integers(1, 2))):
        spec = specs[draw(st.sampled_from(sorted(specs)))]
        columns = mostly(draw, list(spec.columns), st.lists(texts, max_size=3))
        header = {"table": mostly(draw, spec.name, texts), "columns": columns}
        if not draw(usually(5)):
            header["format"] = "pgcopy"
        lines.append(encoded(header))
        for _ in range(draw(st.integers(1, 2))):
            lines.append(encoded([draw(leaves) for _ in columns]))
    return b"\n".join(lines) + b"\n"


def _digest(body: bytes) -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest(body)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def tar_chain() -> bytes:
    from tests.test_peer_attacks import nested_symlink_tar

    return nested_symlink_tar()


RESOURCE_NAMES = st.sampled_from(["assets/a.png", "assets/img/b.png", "uploadedfiles/c.pdf",
                                  "privateassets/d.bin", "uploadedimages/.esync-x/e.png",
                                  "assets", "css/a.css", "assets/../../x", "assets/\udcff",
                                  "assets/" + "d/" * 120 + "x"])
# What each endpoint reads, as the last part of its route says.
BODIES_BY_ENDPOINT = {
    "pair": objects(number=st.one_of(st.none(), numbers), highest_known=numbers,
                    you_are=st.sampled_from(["source", "destination", "neither"])),
    "relationship": objects(relationship=numbers, initial_direction=st.sampled_from(
        ["upload", "download", "x"]), local_site=texts, remote_site=st.sampled_from(
        ["default", "intranet"]), profiles=st.lists(profiles, max_size=3),
        run=objects(id=numbers, kind=st.sampled_from(["FullSync", "FullStage", "Nope"]),
                    stamp=st.sampled_from([STAMP, "", "x"])).map(json.loads)),
    "remove": objects(relationship=st.sampled_from([3, 4, 2**63, -1, "1"])),
    "run-end": objects(run=numbers),
    "collisions": objects(collisions=st.lists(objects(
        kind=st.sampled_from(["modified", "deleted", "x"]), table=texts, row_id=numbers,
        original_name=texts, modified_name=texts).map(json.loads), max_size=3)),
    "assignments": objects(content=st.lists(numbers, max_size=5)),
    "send": objects(paths=st.lists(names, max_size=3)),
    "delete": objects(files=st.dictionaries(names, st.sampled_from(DIGESTS), max_size=3)),
    "delta": objects(blocks=st.lists(texts, max_size=3), anchors=st.lists(texts, max_size=3),
                     size=numbers),
    "receive": framed_streams(),
    "files": framed_streams(RESOURCE_NAMES),
    "apply": change_sets(),
    "database": copy_streams(),
}


def bodies_for(route: str) -> st.SearchStrategy[bytes]:
    generic = st.one_of(
        st.just(b""), st.binary(max_size=64), json_values.map(encoded), shaped_bodies(),
        st.sampled_from([nested(100_000), b'{"a":' * 50_000, b"9" * 6000, b"\xff\xfe{}",
                         b'{"paths": ["\\ud800"]}', b"x" * 300_000, b"\n" * 10_000]),
        st.builds(tar_chain))
    own = BODIES_BY_ENDPOINT.get(route.rstrip("/").rpartition("/")[2])
    return generic if own is None else \
        usually(3).flatmap(lambda usual: own if usual else generic)


A_CSS = "a96faf705af16834e6c632b61e964e1f"  # the digest of css/a.css ("a") in the site root
# Each query parameter's usual value, and others a peer may send.
QUERY = {"items": ("templates", ITEMS), "path": (names, []), "stamp": (STAMP, [STAMP[:-1]]),
         "size": ("1", NUMBER_TEXTS), "mtime_ns": ("1700000000000000000", NUMBER_TEXTS),
         "digest": (_digest(b"x"), DIGESTS), "replaces": (A_CSS, DIGESTS),
         "offset": ("0", NUMBER_TEXTS), "since": ("0", NUMBER_TEXTS),
         "filter": ("none", ["include", "exclude", "x"]), "extensions": ("css", ["", ",,"]),
         "files": ("STAGED_TOKEN", ["0" * 32, "", "../x"]), "format": ("pgcopy", ["json"]),
         "record_collisions": ("1", ["0"])}


@st.composite
def query_values(draw, key: str) -> str:
    usual, others = QUERY[key]
    if isinstance(usual, st.SearchStrategy):
        return draw(usual)
    return mostly(draw, usual, st.sampled_from(others + NUMBER_TEXTS + NAMES))


def percent_encoded(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="/,")


@st.composite
def query_strings(draw) -> str:
    """Mostly what the file API reads (items, stamp, path, numbers), each value generated;
    sometimes keys at random; sometimes bytes that are not UTF-8 or not percent-encoded."""
    keys = mostly(draw, [k for k in QUERY if draw(usually(9))],
                  st.lists(st.sampled_from(sorted(QUERY)), max_size=8))
    if not draw(usually(9)):  # bytes that are not UTF-8, or not percent-encoded
        return draw(st.sampled_from(["path=%FF%FE", "path=%", "items=%C0%AF", "%00=%00",
                                     "path=css/%2e%2e/%2e%2e/x", "a" * 5000]))
    return "&".join(f"{k}={percent_encoded(draw(query_values(k)))}" for k in keys)


@dataclass(frozen=True)
class PeerRequest:
    method: str
    query: str
    body: bytes
    content_length: str
    identity: tuple[str | None, str | None]
    source_rows: str | None
    source: str
    content_type: str


# The relationship and run that pass each rule (see the `answering` fixture).
ADMITTED = {Rule.ANY_TRUSTED_PEER: IDENTITIES[0], Rule.RELATIONSHIP: IDENTITIES[1],
            Rule.INITIAL_SOURCE: IDENTITIES[3], Rule.INITIAL_DESTINATION: IDENTITIES[2],
            Rule.WRITE_ROWS: IDENTITIES[1], Rule.WRITE_FILES: IDENTITIES[1]}


@st.composite
def peer_requests(draw, route: str, rules: dict[str, Rule]) -> PeerRequest:
    """A request the endpoint admits, mostly (its method, a relationship and run that its
    rule lets through, a Content-Length that is the body's), with generated contents."""
    method = mostly(draw, draw(st.sampled_from(sorted(rules))),
                    st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    body = draw(bodies_for(route))
    return PeerRequest(
        method=method, query=draw(query_strings()), body=body,
        content_length=mostly(draw, str(len(body)), st.sampled_from(
            ["5000", str(2**20 + 1), str(64 * 2**20 + 1), str(256 * 2**20 + 1), "10" * 10,
             "-1", "abc", ""])),
        identity=mostly(draw, ADMITTED.get(rules.get(method), IDENTITIES[1]),
                        st.sampled_from(IDENTITIES)),
        source_rows=mostly(draw, "100", st.sampled_from([None, *NUMBER_TEXTS])),
        source=draw(st.sampled_from(["odbc1", "nope", "..", " ", "x" * 300])),
        content_type=mostly(draw, "application/json", st.sampled_from(
            ["application/x-ndjson", "multipart/form-data; boundary=x",
             "application/x-www-form-urlencoded", "text/plain; charset=utf-16", ""])))


# -- the answering instance ----------------------------------------------------------------------

def client_certificate() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzzer_SyncClient")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Answering:
    home: Path
    site_root: Path
    sentinel: Path
    certificate: str
    initial_copy_owner: str  # the owner name of run 8's uploads

    def stage_upload(self) -> str:
        """Resource folders staged by run 8 (an empty upload), as a peer's initial copy does
        before it sends the database; the token that names them."""
        from syncengine import resource_files

        return resource_files.stage([b'{"end": true}\n'], self.initial_copy_owner)


@pytest.fixture
def answering(settings, tmp_path) -> Answering:
    """This instance in a home of its own, a peer it trusts, and what that peer announced:
    relationship 1 (the peer copies onto here; a profile writes everything here; runs 7, a
    full sync, and 8, an initial copy, in progress) and relationship 2 (this instance is the
    source; a profile that only reads; run 9)."""
    from certificates.identities import fingerprint_of_pem
    from certificates.models import TrustedPeer
    from cms.site_root import create_site_root
    from relationships import peer_grants
    from relationships.server_identity import get_server_info
    from tests.certificate_helpers import use_home

    config = use_home(settings, tmp_path / "home")
    get_server_info()  # this instance's identity, as `esync init` made it
    settings.SITE_ROOT = config.site_root
    create_site_root(config.site_root)
    (config.site_root / "css").mkdir(exist_ok=True)
    (config.site_root / "css/a.css").write_text("a")
    # What a server that has received before holds: its incoming folder and the lock of
    # the initial sync's uploads beside it.
    (config.state_dir / "incoming").mkdir(parents=True, exist_ok=True)
    (config.state_dir / "incoming-resources.lock").touch()
    sentinel = tmp_path / "SENTINEL"
    sentinel.mkdir()
    (sentinel / "pwned.css").write_text("untouched")
    pem = client_certificate()
    peer = TrustedPeer.objects.create(
        name="fuzzer", server_id="00000000-0000-0000-0000-0000000000f1", esync_version="0.1.0",
        server_cert_pem="", client_cert_pem=pem, server_fingerprint="s-fuzzer",
        client_fingerprint=fingerprint_of_pem(pem), server_not_after="2030-01-01T00:00Z",
        client_not_after="2030-01-01T00:00Z")
    everything = [{"id": 1, "name": "all", "items": list(peer_grants.ITEMS),
                   "direction": "bidirectional"}]
    for run, kind in ((7, "FullSync"), (8, "FullStage")):
        peer_grants.announce(peer, {"relationship": 1, "initial_direction": "upload",
                                    "profiles": everything,
                                    "run": {"id": run, "kind": kind, "stamp": STAMP}})
    peer_grants.announce(peer, {"relationship": 2, "initial_direction": "download",
                                "profiles": [{**everything[0], "direction": "download"}],
                                "run": {"id": 9, "kind": "FullSync"}})
    from relationships.models import IncomingRun
    from syncengine.resource_files import peer_run_owner

    run = IncomingRun.objects.get(relationship__remote_relationship_id=1, remote_run_id=8)
    return Answering(config.home, config.site_root, sentinel, pem, peer_run_owner(run))


def rows_now() -> dict[str, str]:
    """Every table's rows, as a digest each."""
    found = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows = sorted(repr(row) for row in cursor.fetchall())
            found[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return found


def files_now(*folders: Path) -> dict[str, tuple]:
    """(size, mtime_ns) of every file and link below the folders (folders as None)."""
    found: dict[str, tuple] = {}
    for top in folders:
        for folder, subfolders, files in os.walk(top):
            for name in subfolders:
                found[os.path.join(folder, name)] = ()
            for name in files:
                path = os.path.join(folder, name)
                info = os.lstat(path)
                found[path] = (info.st_size, info.st_mtime_ns)
    return found


def send(scene: Answering, route: str, request: PeerRequest, token: str = ""):
    relationship, run = request.identity
    environ = {SYNC_SERVICE_ENVIRON_KEY: "1", "SSL_CLIENT_CERT": scene.certificate,
               "wsgi.input": io.BytesIO(request.body.replace(b"SENTINEL_ABSOLUTE",
                                                             str(scene.sentinel).encode())),
               "CONTENT_LENGTH": request.content_length,
               "CONTENT_TYPE": request.content_type,
               "QUERY_STRING": request.query.replace("SENTINEL_ABSOLUTE", str(scene.sentinel))
               .replace("STAGED_TOKEN", token)}
    for header, value in (("HTTP_X_ESYNC_RELATIONSHIP", relationship),
                          ("HTTP_X_ESYNC_RUN", run),
                          ("HTTP_X_ESYNC_SOURCE_ROWS", request.source_rows)):
        if value is not None:
            environ[header] = value
    path = route.replace("<str:source>", quote(request.source))
    response = Client().generic(request.method, path, **environ)
    # A stream that breaks part way is a failure too. (Not the initial copy's export on
    # PostgreSQL: it opens a snapshot transaction of its own, which cannot start inside the
    # test's; it reads nothing of the request but `format`.)
    exporting = route.endswith("initial-sync/database") and request.method == "GET"
    if response.streaming and not (exporting and connection.vendor == "postgresql"):
        b"".join(response.streaming_content)
    return response


# -- the property ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("route", "endpoint"), ROUTES, ids=[r for r, _ in ROUTES])
def test_whatever_a_trusted_peer_sends_is_answered_below_500_and_a_refusal_leaves_no_trace(
        answering, route, endpoint):
    watched = (answering.home, answering.site_root, answering.sentinel)
    may_change = [answering.site_root, answering.home / "state", answering.home / "versions"]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(request=peer_requests(route, endpoint.peer_rules))
    def example(request: PeerRequest) -> None:
        with transaction.atomic():
            token = answering.stage_upload() if route.endswith("initial-sync/database") else ""
            rows, files = rows_now(), files_now(*watched)
            response = send(answering, route, request, token)
            assert response.status_code < 500, (response.status_code, response.content[:300])
            after = files_now(*watched)
            changed = {p for p in files.keys() | after.keys() if files.get(p) != after.get(p)}
            if response.status_code >= 400:
                assert json.loads(response.content)["message"], response.content
                assert rows_now() == rows, "a refused request changed rows"
                # A refused initial copy removes the upload it claimed, as it must.
                changed = {p for p in changed if not (p in files and p not in after
                                                      and f"/resources-{token}" in p)}
                assert not changed, f"a refused request changed files: {sorted(changed)}"
            else:
                outside = [p for p in changed
                           if not any(Path(p).is_relative_to(f) for f in may_change)]
                assert not outside, f"a request wrote outside the site root: {outside}"
            transaction.set_rollback(True)  # the next example starts from the same rows

    example()
