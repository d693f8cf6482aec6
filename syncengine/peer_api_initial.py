"""The initial sync's peer API: the destination's status, the resource folders and the
database (served only by the sync service, under /esync/v1/initial-sync/).

GET serves this instance as the source of the copy; POST writes onto it as the destination,
and only while it may still be initialized (never once staged: a Force Initial Sync is only
started on the destination itself). Who may call which is the URLconf's rule
(syncengine.peer_endpoint); every refusal here is a 4xx with a sentence.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import JsonResponse, StreamingHttpResponse

from esync_site.whole_numbers import whole_number
from syncengine import resource_files
from syncengine.peer_api import read_request
from syncengine.peer_endpoint import PeerRequestRefused
from syncengine.stream_chunks import coalesced

log = logging.getLogger("esync.peer_api")


def initial_sync_status(request):
    """Whether this instance was initialized, how many rows it holds, its change log's mark."""
    from relationships.initial_sync import destination_status

    return JsonResponse(destination_status().as_dict())


def _refuse_if_staged():
    """The destination's status, unless it was initialized already (409)."""
    from relationships.initial_sync import destination_status

    status = destination_status()
    if status.staged:
        raise PeerRequestRefused(409, "already_staged", "this instance was already "
                                 "initialized by an initial sync")
    return status


def _owner(request) -> str:
    return resource_files.peer_run_owner(getattr(request, "incoming_run", None))


def initial_sync_files(request):
    """GET: this instance's resource folders as a framed file stream. POST: the source's,
    staged here until its database copy arrives; answers the token that puts them in place."""
    if request.method == "GET":
        try:
            listing = resource_files.export()
        except resource_files.ResourceStreamRejected as error:
            raise PeerRequestRefused(409, "files_not_sendable", str(error)) from error
        return StreamingHttpResponse(coalesced(listing.chunks()),
                                     content_type=resource_files.CONTENT_TYPE)
    _refuse_if_staged()
    # The stream is bounded by this server's limits per run as it arrives (files, bytes).
    try:
        token = resource_files.stage(read_request(request), _owner(request))
    except resource_files.ResourcesBusy as error:
        raise PeerRequestRefused(409, "busy", str(error)) from error
    except resource_files.ResourceStreamRejected as error:
        raise PeerRequestRefused(400, "files_rejected", str(error)) from error
    except OSError as error:
        log.exception("The resource folders from %s could not be staged",
                      getattr(request.peer, "name", "?"))
        raise PeerRequestRefused(507, "files_not_staged", f"this server could not stage the "
                                 f"resource folders: {error}") from error
    return JsonResponse({"token": token})


def initial_sync_database(request):
    """GET: this instance's synced rows as a stream. POST: the source's, applied here in one
    transaction, then the staged resource folders put in place."""
    from relationships.initial_sync import receive_copy
    from syncengine import table_copy

    if request.method == "GET":
        pgcopy = request.GET.get("format") == "pgcopy"
        return StreamingHttpResponse(table_copy.export_lines(pgcopy=pgcopy),
                                     content_type="application/x-ndjson")
    # The initiator checked these too; a destination does not rely on it.
    status = _refuse_if_staged()
    token = resource_files.check_token(request.GET.get("files", ""))
    rows = whole_number(request.headers.get("X-Esync-Source-Rows", ""))
    if rows is None:
        raise PeerRequestRefused(400, "bad_request", "the source's row count "
                                 "(X-Esync-Source-Rows) is missing or not a whole number")
    if status.rows > rows:
        raise PeerRequestRefused(409, "destination_larger",
                                 f"this instance's database ({status.rows} rows) is larger "
                                 f"than the source's ({rows})")
    try:
        result = receive_copy(read_request(request), token, owner=_owner(request))
    except resource_files.ResourcesBusy as error:
        raise PeerRequestRefused(409, "busy", str(error)) from error
    except resource_files.ResourceStreamRejected as error:
        raise PeerRequestRefused(409, "files_not_staged", str(error)) from error
    except table_copy.StreamRejected as error:
        raise PeerRequestRefused(400, "stream_rejected", str(error)) from error
    except DatabaseError as error:
        log.exception("The initial copy from %s could not be applied",
                      getattr(request.peer, "name", "?"))
        raise PeerRequestRefused(409, "apply_failed", f"the copy could not be applied: "
                                 f"{error}") from error
    return JsonResponse(result)
