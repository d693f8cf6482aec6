"""The peer API's URLconf: what the sync service serves, and nothing else."""

from django.urls import path

from syncengine import peer_api

urlpatterns = [
    path("esync/v1/hello", peer_api.hello, name="peer-hello"),
]
