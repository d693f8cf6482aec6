"""The peer API's URLconf: what the sync service serves, and nothing else."""

from django.urls import path

from syncengine import peer_api, peer_api_files
from syncengine.peer_api_custom import apply_changes as custom_apply
from syncengine.peer_api_custom import changes as custom_changes

urlpatterns = [
    path("esync/v1/hello", peer_api.hello, name="peer-hello"),
    path("esync/v1/pair", peer_api.pair, name="peer-pair"),
    path("esync/v1/initial-sync/status", peer_api.initial_sync_status),
    path("esync/v1/initial-sync/files", peer_api.initial_sync_files),
    path("esync/v1/initial-sync/database", peer_api.initial_sync_database),
    path("esync/v1/changes", peer_api.changes),
    path("esync/v1/changes/apply", peer_api.apply_changes),
    path("esync/v1/collisions", peer_api.collisions),
    path("esync/v1/content/assignments", peer_api.content_assignments),
    *[path(f"esync/v1/files/{name}", getattr(peer_api_files, name))
      for name in ("manifest", "receive", "send", "delete", "signature", "patch", "delta",
                   "partial", "chunk", "commit", "content")],
    path("esync/v1/custom/<str:source>/changes", custom_changes),
    path("esync/v1/custom/<str:source>/changes/apply", custom_apply),
]
