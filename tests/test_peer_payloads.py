"""Bad peer payloads get a clear refusal and change nothing: unknown tables or columns in a
change set, resource paths leading out of the site root, oversized bodies."""

import json

import pytest

from tests.sync_helpers import contents, trust_both_ways

pytestmark = pytest.mark.slow

ASK = """
import json
from certificates.models import TrustedPeer
from syncengine.peer_client import PeerClient
from syncengine.peer_errors import PeerError
client = PeerClient.for_peer(TrustedPeer.objects.get(), "127.0.0.1", {port})
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
ask("dot dot", "POST", "/resources/file?path=uploadedfiles/../../esync.toml&mtime=1",
    b"x", {{"Content-Length": "1"}})
ask("outside resources", "GET", "/resources/file?path=workarea/secret.txt")
ask("absolute", "GET", "/resources/file?path=/etc/passwd")
ask("streamed", "POST", "/changes/apply", iter([mark.encode()]))
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
    for name in ("dot dot", "outside resources", "absolute"):
        assert "answered 400" in answers[name], (name, answers[name])
    assert "is not a file in a resource folder" in answers["outside resources"]
    assert "answered 413: a change set may not exceed 256 MB" in answers["streamed"]
    assert contents(production) == before
    assert (production.home / "esync.toml").read_text() == toml_before
