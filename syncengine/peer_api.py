"""The peer API (served only by the sync service, under /esync/v1/)."""

from __future__ import annotations

import json

from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cms.sites import list_sites
from relationships.server_identity import describe_databases, get_server_info
from syncengine.instance_clock import reported_version, utc_now


@require_GET
def hello(request):
    """Who we are, what we run, what time we think it is, and what a peer may sync with."""
    from django.conf import settings

    info = get_server_info()
    return JsonResponse({
        "name": settings.ESYNC.name,
        "server_id": str(info.server_id),
        "server_number": info.server_number,
        "version": reported_version(),
        "utc_now": utc_now().isoformat(),
        "sites": [{"name": s.name, "default": s.is_default} for s in list_sites()],
        "databases": describe_databases(),
        "you_are": request.peer.name,
    })


def _read_request(request, chunk_size: int = 256 * 1024):
    while chunk := request.read(chunk_size):
        yield chunk


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


@require_POST
def pair(request):
    """The initiator's numbering state in, ours decided and applied, theirs out."""
    from relationships import numbering

    try:
        payload = json.loads(request.body)
        theirs = numbering.Numbering(payload["number"], int(payload["highest_known"]))
        we_are_source = payload["you_are"] == "source"
    except (ValueError, KeyError, TypeError):
        return _refusal(400, "bad_request", "malformed pairing request")
    mine, other, highest = numbering.decide(numbering.current(), theirs, we_are_source)
    numbering.adopt(mine, highest)
    return JsonResponse({"your_number": other, "my_number": mine, "highest_known": highest})


@require_GET
def initial_sync_status(request):
    from relationships.initial_sync import destination_status

    return JsonResponse(destination_status().as_dict())


@require_http_methods(["GET", "POST"])
def initial_sync_files(request):
    from syncengine import resource_files

    if request.method == "GET":
        return StreamingHttpResponse(resource_files.export_tar_chunks(),
                                     content_type="application/x-tar")
    try:
        token = resource_files.stage(_read_request(request))
    except (resource_files.ResourceStreamRejected, OSError) as error:
        return _refusal(400, "files_rejected", str(error))
    return JsonResponse({"token": token})


@require_http_methods(["GET", "POST"])
def initial_sync_database(request):
    from relationships.initial_sync import receive_copy
    from syncengine import table_copy

    if request.method == "GET":
        pgcopy = request.GET.get("format") == "pgcopy"
        return StreamingHttpResponse(table_copy.export_lines(pgcopy=pgcopy),
                                     content_type="application/x-ndjson")
    from relationships.initial_sync import destination_status

    token = request.GET.get("files", "")
    if not token.isalnum():
        return _refusal(400, "bad_request", "missing or malformed files token")
    # The initiator checked these too; a destination does not rely on it. Forcing is only
    # ever started on the destination itself (the download side), never pushed onto it.
    status = destination_status()
    if status.staged:
        return _refusal(409, "already_staged",
                        "this instance was already initialized by an initial sync")
    try:
        source_rows = int(request.headers.get("X-Esync-Source-Rows", ""))
    except ValueError:
        return _refusal(400, "bad_request", "the source's row count is missing")
    if status.rows > source_rows:
        return _refusal(409, "destination_larger",
                        f"this instance's database ({status.rows} rows) is larger than the "
                        f"source's ({source_rows})")
    try:
        result = receive_copy(table_copy.split_lines(_read_request(request)), token)
    except table_copy.StreamRejected as error:
        return _refusal(400, "stream_rejected", str(error))
    except Exception as error:
        return _refusal(500, "apply_failed", f"the copy could not be applied: {error}")
    return JsonResponse(result)
