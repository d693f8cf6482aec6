"""The initiator tells the answering server what its relationship with it is.

The answering server allows writes only inside what a relationship it knows for this peer
allows (relationships.peer_grants on that side). So the initiator announces the relationship
and its profiles: when the relationship is created, when a profile is saved or deleted (best
effort: the peer may be down; the next run's announcement brings it up to date), at the start
of every run (that one must succeed: it opens the run on the peer), and it says when the run
ended and when the relationship is deleted.
"""

from __future__ import annotations

import logging

from esync_site.refusal import Refusal
from relationships.models import Relationship
from syncengine.peer_errors import PeerError

log = logging.getLogger("esync.announcements")

QUIET_TIMEOUT = 5  # seconds a best-effort announcement waits for the peer's answer


def payload(relationship: Relationship, run=None) -> dict:
    """The announcement: the relationship, its profiles and (given one) the run starting."""
    said = {
        "relationship": relationship.pk,
        "local_site": relationship.local_site, "remote_site": relationship.remote_site,
        "initial_direction": relationship.initial_direction,
        "profiles": [{"id": p.pk, "name": p.name, "items": list(p.items),
                      "direction": p.direction, "filter": p.filter_mode,
                      "extensions": p.filter_extensions}
                     for p in relationship.profiles.all()],
    }
    if run is not None:
        said["run"] = {"id": run.pk, "kind": run.kind}
    return said


def announce(relationship: Relationship, run=None) -> dict:
    """Tell the peer; PeerError when it cannot be told (a run must not start then)."""
    from syncengine.db_sync import client_for

    return client_for(relationship, read_timeout=60).post_json(
        "/relationship", payload(relationship, run), idempotent=True)


def announce_quietly(relationship: Relationship) -> str:
    """Best effort (after a profile is saved or deleted): what went wrong, or ""."""
    from syncengine.db_sync import client_for

    try:
        # Short: an administrator's save waits for it (a busy peer is told at the next run).
        client_for(relationship, read_timeout=QUIET_TIMEOUT, retries=0).post_json(
            "/relationship", payload(relationship))
    except (PeerError, Refusal, OSError, ValueError) as error:
        log.info("Could not announce relationship %s to %s: %s", relationship.pk,
                 relationship.remote_name, error)
        return str(error)
    return ""


def end_run(relationship: Relationship, run) -> None:
    """Tell the peer the run ended (best effort: a run not ended lapses after a day)."""
    from syncengine.db_sync import client_for

    try:
        client_for(relationship, read_timeout=30).post_json(
            "/relationship/run-end", {"run": run.pk}, idempotent=True)
    except (PeerError, Refusal, OSError, ValueError) as error:
        log.info("Could not tell %s that run %s ended: %s", relationship.remote_name, run.pk,
                 error)


def withdraw(relationship: Relationship) -> str:
    """Tell the peer the relationship is gone (best effort): what went wrong, or ""."""
    from syncengine.db_sync import client_for

    try:
        client_for(relationship, read_timeout=30).post_json(
            "/relationship/remove", {"relationship": relationship.pk}, idempotent=True)
    except (PeerError, Refusal, OSError, ValueError) as error:
        log.info("Could not tell %s that relationship %s is deleted: %s",
                 relationship.remote_name, relationship.pk, error)
        return str(error)
    return ""
