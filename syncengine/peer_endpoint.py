"""Every peer-API view is served through `peer_endpoint`: who may call it, and refusals as 4xx.

The sync service has already checked the client certificate (PeerAuthenticationMiddleware:
`request.peer`). This adds what the certificate does not say, the peer's authorisation here
(relationships.peer_grants), one rule per endpoint in the URLconf, and turns every refusal
and every malformed input into a 4xx with a sentence, in this one place: a peer's bytes never
make a 500.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from enum import Enum

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpResponse, JsonResponse

from esync_site.whole_numbers import whole_number
from relationships import peer_grants

log = logging.getLogger("esync.peer_api")

RELATIONSHIP_HEADER = "X-Esync-Relationship"
RUN_HEADER = "X-Esync-Run"


class PeerRequestRefused(Exception):
    """A request refused with this status, a stable code and a sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def refusal(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


class Rule(Enum):
    """Who may call an endpoint (for one method)."""

    ANY_TRUSTED_PEER = "any trusted peer"    # hello, pairing, announcing a relationship
    RELATIONSHIP = "a relationship here"      # reads of site data
    INITIAL_SOURCE = "the initial copy's destination, reading this source"
    INITIAL_DESTINATION = "the initial copy's source, writing onto this destination"
    WRITE_ROWS = "a run that may write the database here"
    WRITE_FILES = "a run that may write these file items here"


def _refusals() -> tuple[tuple[type[BaseException], Callable[[BaseException], JsonResponse]],
                         ...]:
    """Known refusals and malformed input, each to its status (imported late: the engine's
    modules import this one)."""
    from django.db import OperationalError

    from relationships.numbering import NumberingRefused
    from syncengine.change_sets import ChangeSetRejected
    from syncengine.file_rules import FilterRefused
    from syncengine.file_transfer import FileRefused

    return (
        (PeerRequestRefused, lambda e: refusal(e.status, e.code, e.message)),
        (peer_grants.NotAllowed, lambda e: refusal(403, "not_allowed", str(e))),
        (peer_grants.AnnouncementRefused, lambda e: refusal(400, "bad_request", str(e))),
        (NumberingRefused, lambda e: refusal(400, "numbering_refused", str(e))),
        ((FileRefused, FilterRefused), lambda e: refusal(400, "file_refused", str(e))),
        (ChangeSetRejected, lambda e: refusal(400, "change_set_rejected", str(e))),
        (RequestDataTooBig, lambda e: refusal(413, "too_large",
                                              "the request body is larger than this server "
                                              "accepts for this endpoint")),
        (RecursionError, lambda e: refusal(400, "bad_request",
                                           "the request is nested too deeply")),
        (OverflowError, lambda e: refusal(400, "bad_request",
                                          "a number in the request is out of range")),
        (UnicodeError, lambda e: refusal(400, "bad_request", "the request is not UTF-8")),
        (SuspiciousOperation, lambda e: refusal(400, "bad_request", str(e))),
        # A database busy past its timeout (another writer holds SQLite's lock) or gone.
        (OperationalError, lambda e: refusal(503, "database_busy",
                                             "this server's database is busy or unavailable; "
                                             "try again later")),
    )


def _number_header(request, name: str) -> str:
    """The header if it is a whole number in ASCII digits, else "" (none named): a header
    arrives as Latin-1, where "²" is a digit to str.isdigit that int() refuses."""
    value = request.headers.get(name) or ""
    return value if whole_number(value) is not None else ""


def authorize(request, rule: Rule) -> None:
    """Refuse the request unless `rule` holds for its peer; sets `request.grant` (the
    peer's relationship here) and `request.incoming_run` where the rule needs them."""
    request.grant = request.incoming_run = None
    if rule is Rule.ANY_TRUSTED_PEER:
        return
    grant = peer_grants.grant_of(request.peer, _number_header(request, RELATIONSHIP_HEADER))
    request.grant = grant
    if rule is Rule.RELATIONSHIP:
        return
    if rule is Rule.INITIAL_SOURCE:
        peer_grants.refuse_unless_initial_source(grant)
        return
    run = peer_grants.run_in_progress(grant, _number_header(request, RUN_HEADER))
    request.incoming_run = run
    if rule is Rule.INITIAL_DESTINATION:
        if run.kind != "FullStage":
            raise peer_grants.NotAllowed("only an initial sync run may replace this "
                                         "instance's data")
        peer_grants.refuse_unless_initial_destination(grant)
    elif rule is Rule.WRITE_ROWS:
        peer_grants.refuse_unless_writable(grant, ["database"])
    elif rule is Rule.WRITE_FILES:
        items = [i for i in request.GET.get("items", "").split(",") if i]
        peer_grants.refuse_unless_writable(grant, items)


def peer_endpoint(view: Callable[..., HttpResponse], **rules: Rule) -> Callable[..., HttpResponse]:
    """`view` served under `rules` (by method: get=Rule..., post=Rule...); any other method
    is refused with 405."""
    allowed = {method.upper(): rule for method, rule in rules.items()}

    @functools.wraps(view)
    def endpoint(request, *args, **kwargs) -> HttpResponse:
        rule = allowed.get(request.method)
        if rule is None:
            response = refusal(405, "method_not_allowed",
                               f"use {' or '.join(sorted(allowed))} for this endpoint")
            response["Allow"] = ", ".join(sorted(allowed))
            return response
        try:
            authorize(request, rule)
            return view(request, *args, **kwargs)
        except Exception as error:
            for kinds, answer in _refusals():
                if isinstance(error, kinds):
                    log.info("Refused %s %s from %s: %s", request.method, request.path,
                             getattr(getattr(request, "peer", None), "name", "?"), error)
                    return answer(error)
            raise

    endpoint.peer_rules = allowed  # who may call it, by method (read by the URLconf's tests)
    return endpoint
