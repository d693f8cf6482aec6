"""The peer API (served only by the sync service, under /esync/v1/)."""

from __future__ import annotations

import json
import logging

from django.db import DatabaseError, transaction
from django.http import JsonResponse, StreamingHttpResponse

from cms.sites import list_sites
from relationships.server_identity import describe_databases, get_server_info
from syncengine.instance_clock import reported_version, utc_now
from syncengine.peer_endpoint import PeerRequestRefused, refusal

log = logging.getLogger("esync.peer_api")


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


def read_request(request, limit: int | None = None, chunk_size: int = 256 * 1024):
    """The request body as it arrives; past `limit` bytes the request is refused (413)."""
    read = 0
    while chunk := request.read(chunk_size):
        read += len(chunk)
        if limit is not None and read > limit:
            raise PeerRequestRefused(413, "too_large", f"the request body is past the "
                                     f"{limit:,} bytes this endpoint accepts")
        yield chunk


def declared_length(request) -> int | None:
    """The body length the request declares (Content-Length); None when it is not a number."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def json_body(request, limit: int = 1024 * 1024) -> object:
    """The request's JSON body, at most `limit` bytes; 4xx with a sentence otherwise."""
    length = declared_length(request) or 0
    if length > limit:
        raise PeerRequestRefused(413, "too_large", f"a JSON body may not exceed {limit:,} "
                                 "bytes here")
    try:
        return json.loads(b"".join(read_request(request, limit)))
    except ValueError as error:
        raise PeerRequestRefused(400, "bad_request", f"the body is not JSON: {error}") \
            from error


def pair(request):
    """The initiator's numbering state in, ours decided and applied, theirs out."""
    from relationships import numbering

    with transaction.atomic():
        ours = numbering.current()
        theirs, we_are_source = numbering.read_peer_numbering(json_body(request, 4096), ours)
        mine, other, highest = numbering.decide(ours, theirs, we_are_source)
        numbering.adopt(mine, highest)
    return JsonResponse({"your_number": other, "my_number": mine, "highest_known": highest})


def announce_relationship(request):
    """The peer's relationship with this instance and its profiles (and a run starting)."""
    from relationships import peer_grants

    grant = peer_grants.announce(request.peer, json_body(request))
    return JsonResponse({"relationship": grant.remote_relationship_id,
                         "writable": sorted(peer_grants.writable_items(grant))})


def remove_relationship(request):
    """The peer deleted its relationship: nothing of it may read or write here any more."""
    from relationships import peer_grants

    body = json_body(request, 4096)
    if not isinstance(body, dict):
        raise PeerRequestRefused(400, "bad_request", "a JSON body {relationship: id} is "
                                 "required")
    return JsonResponse({"removed": peer_grants.remove(request.peer, body.get("relationship"))})


def end_run(request):
    """The peer's run ended: its writes are refused from now on."""
    from relationships import peer_grants

    body = json_body(request, 4096)
    if not isinstance(body, dict):
        raise PeerRequestRefused(400, "bad_request", "a JSON body {run: id} is required")
    from syncengine import resource_files

    run = peer_grants.incoming_run_of(request.grant, body.get("run"))
    ended = peer_grants.end_run(request.grant, body.get("run"))
    if run is not None:  # its staged resource folders (an initial sync's) go with it
        resource_files.discard_staged(resource_files.peer_run_owner(run))
    return JsonResponse({"ended": ended})


MAX_CHANGE_SET_BYTES = 256 * 2**20  # one apply request; the initiator sends batches far smaller


def refuse_oversized_change_set(request) -> JsonResponse | None:
    """The refusal of a change set body past the limit (a streamed one counts as past it)."""
    length = declared_length(request) or 0
    if length > MAX_CHANGE_SET_BYTES:
        return refusal(413, "too_large", f"a change set may not exceed "
                                         f"{MAX_CHANGE_SET_BYTES // 2**20} MB per request")
    return None


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


def apply_changes(request):
    """A batch of the asker's changes, applied here in one transaction, stamped as theirs;
    changes to privileged accounts are held unless the relationship allows them."""
    from syncengine.change_sets import from_lines
    from syncengine.db_sync import record_collisions
    from syncengine.privileged_changes import apply_held_back
    from syncengine.table_copy import split_lines

    if (too_large := refuse_oversized_change_set(request)) is not None:
        return too_large
    _, batch = from_lines(split_lines(read_request(request, MAX_CHANGE_SET_BYTES)))
    grant = request.grant
    try:
        result = apply_held_back(batch, str(request.peer.server_id), request.peer.name,
                                 accept=grant.accept_privileged_changes)
    except DatabaseError as error:
        log.exception("A change set from %s could not be applied", request.peer.name)
        raise PeerRequestRefused(409, "apply_failed", f"the changes could not be applied "
                                 f"here: {error}") from error
    if request.GET.get("record_collisions") == "1":
        record_collisions(result.collisions)
    return JsonResponse(result.as_dict())


def content_assignments(request):
    """The assignment rows (metadata values, tag and taxonomy links, URL aliases) this
    instance has for the asker's content items: its content sync removes here those it
    removed on its side."""
    from syncengine.content_sync import MAX_ITEMS_ASKED, assignments_of

    body = json_body(request, 24 * MAX_ITEMS_ASKED)
    ids = body.get("content") if isinstance(body, dict) else None
    if not isinstance(ids, list) or len(ids) > MAX_ITEMS_ASKED or \
            any(type(i) is not int or not 0 < i < 2**63 for i in ids):
        raise PeerRequestRefused(400, "bad_request", f"a JSON body {{content: [up to "
                                 f"{MAX_ITEMS_ASKED} content ids]}} is required")
    return JsonResponse(assignments_of(ids))


MAX_COLLISIONS = 5000  # one run's notes; a bidirectional batch resolves far fewer


def collisions(request):
    """Collisions the asker resolved on its side, recorded here too (bidirectional runs)."""
    from syncengine.apply_changes import CollisionNote
    from syncengine.db_sync import record_collisions

    body = json_body(request, 2 * 1024 * 1024)
    items = body.get("collisions") if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) > MAX_COLLISIONS:
        raise PeerRequestRefused(400, "bad_request", f"a JSON body {{collisions: [at most "
                                 f"{MAX_COLLISIONS}]}} is required")
    notes = [_collision(item, CollisionNote) for item in items]
    record_collisions(notes)
    return JsonResponse({"recorded": len(notes)})


def _collision(item: object, note: type):
    from syncengine.models import Collision

    fields = {"kind": 20, "table": 128, "original_name": 255, "modified_name": 255}
    if not isinstance(item, dict) or any(
            not isinstance(item.get(name), str) or len(item[name]) > longest
            for name, longest in fields.items()) or \
            type(item.get("row_id")) is not int or not 0 < item["row_id"] < 2**63:
        raise PeerRequestRefused(400, "bad_request", "a collision is {kind, table, row_id, "
                                 "original_name, modified_name} with texts of bounded length")
    if item["kind"] not in Collision.Kind.values:
        raise PeerRequestRefused(400, "bad_request", f"a collision's kind is one of "
                                 f"{', '.join(Collision.Kind.values)}")
    return note(kind=item["kind"], table=item["table"], row_id=item["row_id"],
                original_name=item["original_name"], modified_name=item["modified_name"])
