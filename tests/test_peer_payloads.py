"""Bad peer payloads get a clear refusal and change nothing: unknown tables or columns in a
change set, file paths leading out of the site root, oversized bodies."""

import json

import pytest

from tests.sync_helpers import ANNOUNCED_CLIENT, contents, trust_both_ways

pytestmark = pytest.mark.slow

ASK = ANNOUNCED_CLIENT + """
import json
from syncengine.peer_errors import PeerError
client = announced_client({port})
answers = {{}}
def ask(name, method, path, body=None, headers=None):
    try:
        with client.open(method, path, body=body, headers=headers) as response:
            answers[name] = "accepted: " + b"".join(response.body).decode()[:200]
    except PeerError as error:
        answers[name] = str(error)
mark = json.dumps({{"mark": 0}}) + "\\n"
unknown_table = mark + json.dumps({{"t": "auth_user", "k": [1], "op": "D", "row": None}})
ask("unknown table", "POST", "/changes/apply", unknown_table.encode(),
    {{"Content-Length": str(len(unknown_table))}})
bad_column = mark + json.dumps({{"t": "cms_folder", "k": [5], "op": "U", "row": {{
    "id": 5, "parent_id": None, "name": "x", "description": "", "created_at": None,
    "updated_at": None, "is_admin": True}}}})
ask("unknown column", "POST", "/changes/apply", bad_column.encode(),
    {{"Content-Length": str(len(bad_column))}})
ask("not json", "POST", "/changes/apply", b"{{nope", {{"Content-Length": "5"}})
def framed(path):
    header = json.dumps({{"path": path, "size": 1, "mtime_ns": 0, "digest": "0"}})
    return (header + "\\nx" + json.dumps({{"end": True}}) + "\\n").encode()
for name, path in [("dot dot", "uploadedfiles/../../esync.toml"),
                   ("outside the items", "workarea/help/secret.html"),
                   ("absolute", "/etc/passwd")]:
    body = framed(path)
    ask(name, "POST", "/files/receive?items=database,workarea&stamp=20261125-120000-run1",
        body, {{"Content-Length": str(len(body))}})
ask("read outside", "GET", "/files/content?items=templates&path=../esync.toml")
ask("patch past the limit", "POST", "/files/patch?items=templates&stamp=20261125-120000-run1"
    "&path=templates/page.html&size=1000000000000000&mtime_ns=0&digest=0&replaces=0",
    b"", {{"Content-Length": "0"}})
ask("streamed", "POST", "/changes/apply", iter([mark.encode()]))
for name, body in [("assignments not ids", {{"content": ["1; DROP TABLE cms_content"]}}),
                   ("assignments too many", {{"content": list(range(10_001))}}),
                   ("assignments no list", {{"items": [1]}})]:
    raw = json.dumps(body).encode()
    ask(name, "POST", "/content/assignments", raw, {{"Content-Length": str(len(raw))}})
print(json.dumps(answers))
"""


def test_a_peer_sending_bad_payloads_is_refused_with_reasons_and_nothing_changes(
        real_instances, tmp_path):
    staging = real_instances("staging")
    production = real_instances("production")
    trust_both_ways(staging, production, tmp_path)
    before = contents(production)
    toml_before = (production.home / "esync.toml").read_text()

    with production.sync_serving():
        answers = json.loads(staging.python(ASK.format(port=production.sync_port))
                             .strip().splitlines()[-1])

    assert "400: unknown table 'auth_user' in the change set" in answers["unknown table"]
    assert "400: unknown or missing columns for cms_folder" in answers["unknown column"]
    assert "400: a line of the change set is not JSON" in answers["not json"]
    # a file in a stream is refused alone, with its reason; a read is refused whole
    for name in ("dot dot", "outside the items", "absolute"):
        assert answers[name].startswith('accepted: {"landed": [], "refused": [{"path": '), \
            (name, answers[name])
    assert "answered 400" in answers["read outside"], answers["read outside"]
    assert "leads outside the site root" in answers["dot dot"]
    assert "is not a file this profile synchronizes" in answers["outside the items"]
    assert "is an absolute path" in answers["absolute"]
    assert "answered 413: a change set may not exceed 256 MB" in answers["streamed"]
    assert "answered 400: a file of 1000000000000000 bytes is past this server's limit" in \
        answers["patch past the limit"], answers["patch past the limit"]
    for name in ("assignments not ids", "assignments too many", "assignments no list"):
        assert "answered 400: a JSON body {content: [up to 10000 content ids]} is required" \
            in answers[name], (name, answers[name])
    assert contents(production) == before
    assert (production.home / "esync.toml").read_text() == toml_before
