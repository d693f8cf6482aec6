"""The peer API's URLconf: what the sync service serves, and nothing else.

Each endpoint names who may call it, by method (syncengine.peer_endpoint.Rule): the client
certificate says who is calling, the relationship the peer announced says what it may do
here. A method not listed is refused with 405.
"""

from django.urls import path

from syncengine import peer_api, peer_api_files, peer_api_initial
from syncengine.peer_api_custom import apply_changes as custom_apply
from syncengine.peer_api_custom import changes as custom_changes
from syncengine.peer_endpoint import Rule, peer_endpoint

ANY, RELATIONSHIP = Rule.ANY_TRUSTED_PEER, Rule.RELATIONSHIP
FILE_READS = ("manifest", "send", "signature", "delta", "partial", "content")
FILE_WRITES = ("receive", "delete", "patch", "chunk", "commit")
# Reads that carry a JSON body are POSTs.
POSTED_READS = ("send", "delta")


def _v1(route: str, view, name: str | None = None, **rules: Rule):
    return path(f"esync/v1/{route}", peer_endpoint(view, **rules), name=name)


urlpatterns = [
    _v1("hello", peer_api.hello, "peer-hello", get=ANY),
    _v1("pair", peer_api.pair, "peer-pair", post=ANY),
    _v1("relationship", peer_api.announce_relationship, "peer-relationship", post=ANY),
    _v1("relationship/remove", peer_api.remove_relationship, post=ANY),
    _v1("relationship/run-end", peer_api.end_run, post=RELATIONSHIP),
    _v1("initial-sync/status", peer_api_initial.initial_sync_status, get=RELATIONSHIP),
    _v1("initial-sync/files", peer_api_initial.initial_sync_files,
        get=Rule.INITIAL_SOURCE, post=Rule.INITIAL_DESTINATION),
    _v1("initial-sync/database", peer_api_initial.initial_sync_database,
        get=Rule.INITIAL_SOURCE, post=Rule.INITIAL_DESTINATION),
    _v1("changes", peer_api.changes, get=RELATIONSHIP),
    _v1("changes/apply", peer_api.apply_changes, post=Rule.WRITE_ROWS),
    _v1("collisions", peer_api.collisions, post=Rule.WRITE_ROWS),
    _v1("content/assignments", peer_api.content_assignments, post=RELATIONSHIP),
    *[_v1(f"files/{name}", getattr(peer_api_files, name),
          **({"post": RELATIONSHIP} if name in POSTED_READS else {"get": RELATIONSHIP}))
      for name in FILE_READS],
    *[_v1(f"files/{name}", getattr(peer_api_files, name), post=Rule.WRITE_FILES)
      for name in FILE_WRITES],
    _v1("custom/<str:source>/changes", custom_changes, get=RELATIONSHIP),
    _v1("custom/<str:source>/changes/apply", custom_apply, post=Rule.WRITE_ROWS),
]
