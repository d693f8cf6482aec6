"""The peer API for custom tables of ODBC data sources (served by the sync service only).

The asker names the data source as both servers registered it; a source or a table not
registered here is refused, so nothing is read from or written to a table this server's
administrator did not choose to sync.
"""

from __future__ import annotations

from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET, require_POST

from syncengine.custom_tables import CustomTableRefused
from syncengine.odbc_source import (
    OdbcSourceUnavailable,
    connect,
    registered_tables,
    specs_of,
)
from syncengine.peer_api import read_request, refusal, refuse_oversized_change_set


@require_GET
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


@require_POST
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
                _, batch = from_lines(split_lines(read_request(request)),
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
        return refusal(500, "apply_failed", f"the changes could not be applied: {error}")
    return JsonResponse(result.as_dict())
