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


def read_request(request, chunk_size: int = 256 * 1024):
    while chunk := request.read(chunk_size):
        yield chunk


def refusal(status: int, code: str, message: str) -> JsonResponse:
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
        return refusal(400, "bad_request", "malformed pairing request")
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
        token = resource_files.stage(read_request(request))
    except (resource_files.ResourceStreamRejected, OSError) as error:
        return refusal(400, "files_rejected", str(error))
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
        return refusal(400, "bad_request", "missing or malformed files token")
    # The initiator checked these too; a destination does not rely on it. Forcing is only
    # ever started on the destination itself (the download side), never pushed onto it.
    status = destination_status()
    if status.staged:
        return refusal(409, "already_staged",
                        "this instance was already initialized by an initial sync")
    try:
        source_rows = int(request.headers.get("X-Esync-Source-Rows", ""))
    except ValueError:
        return refusal(400, "bad_request", "the source's row count is missing")
    if status.rows > source_rows:
        return refusal(409, "destination_larger",
                        f"this instance's database ({status.rows} rows) is larger than the "
                        f"source's ({source_rows})")
    try:
        result = receive_copy(read_request(request), token)
    except table_copy.StreamRejected as error:
        return refusal(400, "stream_rejected", str(error))
    except Exception as error:
        return refusal(500, "apply_failed", f"the copy could not be applied: {error}")
    return JsonResponse(result)


MAX_CHANGE_SET_BYTES = 256 * 2**20  # one apply request; the initiator sends batches far smaller


def refuse_oversized_change_set(request) -> JsonResponse | None:
    """The refusal of a change set body past the limit (a streamed one counts as past it)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_CHANGE_SET_BYTES:
        return refusal(413, "too_large", f"a change set may not exceed "
                                         f"{MAX_CHANGE_SET_BYTES // 2**20} MB per request")
    return None


@require_GET
def changes(request):
    """This instance's changes since `since`, leaving out those that came from the asker."""
    from syncengine import change_log
    from syncengine.change_sets import to_lines, with_rows

    try:
        since = int(request.GET.get("since", ""))
    except ValueError:
        return refusal(400, "bad_request", "since must be a sequence number")
    mark = change_log.high_water_mark()
    logged = change_log.changes_between(since, mark, exclude_origin=str(request.peer.server_id))
    return StreamingHttpResponse(to_lines(mark, with_rows(logged)),
                                 content_type="application/x-ndjson")


@require_POST
def apply_changes(request):
    """A batch of the asker's changes, applied here in one transaction, stamped as theirs."""
    from syncengine import apply_changes as applier
    from syncengine.change_sets import ChangeSetRejected, from_lines
    from syncengine.db_sync import record_collisions
    from syncengine.table_copy import split_lines

    if (too_large := refuse_oversized_change_set(request)) is not None:
        return too_large
    try:
        _, batch = from_lines(split_lines(read_request(request)))
    except ChangeSetRejected as error:
        return refusal(400, "change_set_rejected", str(error))
    try:
        result = applier.apply_changes(batch, origin=str(request.peer.server_id))
    except Exception as error:
        return refusal(500, "apply_failed", f"the changes could not be applied: {error}")
    if request.GET.get("record_collisions") == "1":
        record_collisions(result.collisions)
    return JsonResponse(result.as_dict())


@require_POST
def content_assignments(request):
    """The assignment rows (metadata values, tag and taxonomy links, URL aliases) this
    instance has for the asker's content items: its content sync removes here those it
    removed on its side."""
    from syncengine.content_sync import MAX_ITEMS_ASKED, assignments_of

    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > 20 * MAX_ITEMS_ASKED:
            raise ValueError("too long")
        ids = json.loads(request.body)["content"]
        if not isinstance(ids, list) or len(ids) > MAX_ITEMS_ASKED or \
                any(type(i) is not int or not 0 < i < 2**63 for i in ids):
            raise ValueError("not a list of content ids")
    except (ValueError, KeyError, TypeError):
        return refusal(400, "bad_request", f"a JSON body {{content: [up to {MAX_ITEMS_ASKED} "
                                           "content ids]} is required")
    return JsonResponse(assignments_of(ids))


@require_POST
def collisions(request):
    """Collisions the asker resolved on its side, recorded here too (bidirectional runs)."""
    from syncengine.apply_changes import CollisionNote
    from syncengine.db_sync import record_collisions

    try:
        notes = [CollisionNote(kind=str(c["kind"]), table=str(c["table"]),
                               row_id=int(c["row_id"]), original_name=str(c["original_name"]),
                               modified_name=str(c["modified_name"]))
                 for c in json.loads(request.body)["collisions"]]
    except (ValueError, KeyError, TypeError):
        return refusal(400, "bad_request", "malformed collisions")
    record_collisions(notes)
    return JsonResponse({"recorded": len(notes)})
