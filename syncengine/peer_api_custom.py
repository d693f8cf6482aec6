"""The peer API for custom tables of ODBC data sources (served by the sync service only).

The asker names the data source as both servers registered it; a source or a table not
registered here is refused, so nothing is read from or written to a table this server's
administrator did not choose to sync.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import JsonResponse, StreamingHttpResponse

from syncengine.custom_tables import CustomTableRefused
from syncengine.odbc_source import (
    OdbcSourceUnavailable,
    connect,
    registered_tables,
    specs_of,
)
from syncengine.peer_api import MAX_CHANGE_SET_BYTES, read_request, refuse_oversized_change_set
from syncengine.peer_endpoint import PeerRequestRefused, refusal

log = logging.getLogger("esync.peer_api")


def changes(request, source: str):
    """The source's changes here since `since`, leaving out those that came from the asker."""
    from syncengine.change_sets import to_lines

    try:
        since = int(request.GET.get("since", ""))
    except ValueError:
        return refusal(400, "bad_request", "since must be a sequence number")
    try:
        connection_string, tables = registered_tables(source)
        with connect(connection_string, source) as database:
            shapes = database.shapes(tables)
            mark = database.high_water_mark()
            found = database.changes(since, mark, str(request.peer.server_id), shapes)
    except CustomTableRefused as error:
        return refusal(404, "unknown_source", str(error))
    except OdbcSourceUnavailable as error:
        return refusal(503, "source_unavailable", str(error))
    return StreamingHttpResponse(to_lines(mark, found), content_type="application/x-ndjson")


def apply_changes(request, source: str):
    """A batch of the asker's changes to the source's tables, applied here in one
    transaction, stamped as theirs."""
    from syncengine.change_sets import ChangeSetRejected, from_lines
    from syncengine.table_copy import split_lines

    if (too_large := refuse_oversized_change_set(request)) is not None:
        return too_large
    try:
        connection_string, tables = registered_tables(source)
        with connect(connection_string, source) as database:
            shapes = database.shapes(tables)
            try:
                _, batch = from_lines(split_lines(read_request(request, MAX_CHANGE_SET_BYTES)),
                                      specs_of(shapes, source))
            except ChangeSetRejected as error:
                return refusal(400, "change_set_rejected",
                                f"{error} (not registered in {source!r} here?)")
            result = database.apply(batch, str(request.peer.server_id), shapes)
    except CustomTableRefused as error:
        return refusal(404, "unknown_source", str(error))
    except OdbcSourceUnavailable as error:
        return refusal(503, "source_unavailable", str(error))
    except Exception as error:
        if not isinstance(error, DatabaseError) and type(error).__module__ != "pyodbc":
            raise
        log.exception("A change set from %s for %s could not be applied", request.peer.name,
                      source)
        raise PeerRequestRefused(409, "apply_failed", f"the changes could not be applied: "
                                 f"{error}") from error
    return JsonResponse(result.as_dict())
