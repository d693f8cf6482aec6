"""What a peer may do here: the answering side's record of the peer's relationships.

A trusted certificate says who is calling, not what they may do. The initiator announces each
relationship it holds with this instance, and its profiles, when it creates the relationship,
when it saves or deletes a profile, and at the start of every run that writes here (the run is
opened by that announcement and closed when it ends). This instance then allows:

- file writes only in the categories an announced profile moves towards this instance (upload
  or bidirectional), and only those this instance's administrator left ticked;
- database writes (rows and the resource folders' files) while an announced profile moves
  Database/Resources towards this instance (the content Synchronize action needs one too)
  and this administrator leaves it ticked;
- the initial copy onto this instance only from the relationship that named this instance
  its destination, while this instance may still be initialized;
- writes only inside a run in progress: a chunk or a change set that belongs to no run is
  refused.

The announcement is the peer's own word; this administrator's narrowing is the control.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from certificates.models import TrustedPeer
from esync_site.refusal import Refusal
from relationships.models import AnnouncedProfile, IncomingRun, PeerRelationship, Relationship
from syncengine.file_rules import FileFilter, FilterRefused, is_synced, item_of

ITEMS = ("database", "workarea", "templates", "bin")
DIRECTIONS = ("upload", "download", "bidirectional")
RUN_KINDS = ("FullStage", "FullSync", "FileSync", "ContentSync", "FolderSync")
MAX_PROFILES = 1000
# A run that never said it ended stops counting as in progress after this long.
RUN_LIFETIME = dt.timedelta(hours=24)
_STAMP = re.compile(r"^\d{8}-\d{6}-run\d+$")
_BIG = 2**63


class AnnouncementRefused(Refusal):
    """An announcement that is not well formed: nothing was recorded."""


class NotAllowed(Refusal):
    """A request outside what the peer's relationship allows here."""


# -- reading the peer's words -----------------------------------------------------------------

def _whole(value: object, what: str) -> int:
    if type(value) is not int or not 0 < value < _BIG:
        raise AnnouncementRefused(f"{what} must be a whole number from 1 to 2^63-1")
    return value


def _text(value: object, what: str, longest: int = 100) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        raise AnnouncementRefused(f"{what} must be a text of 1 to {longest} characters")
    return value


def _profile(item: object) -> dict:
    if not isinstance(item, dict):
        raise AnnouncementRefused("each profile must be an object {id, name, items, direction}")
    items = item.get("items")
    if not isinstance(items, list) or any(i not in ITEMS for i in items):
        raise AnnouncementRefused(f"a profile's items must be some of {', '.join(ITEMS)}")
    if item.get("direction") not in DIRECTIONS:
        raise AnnouncementRefused(f"a profile's direction is one of {', '.join(DIRECTIONS)}")
    file_filter, extensions = item.get("filter", "none"), item.get("extensions", "")
    if not isinstance(extensions, str) or len(extensions) > 500:
        raise AnnouncementRefused("a profile's extensions are a text of at most 500 "
                                  "characters")
    try:
        FileFilter.of(file_filter, extensions)
    except (FilterRefused, TypeError) as error:
        raise AnnouncementRefused(f"a profile's filter: {error}") from error
    return {"id": _whole(item.get("id"), "a profile's id"),
            "name": _text(item.get("name"), "a profile's name"),
            "items": sorted(set(items)), "direction": item["direction"],
            "file_filter": file_filter or "none", "extensions": extensions}


def _run(item: object) -> dict | None:
    if item is None:
        return None
    if not isinstance(item, dict) or item.get("kind") not in RUN_KINDS:
        raise AnnouncementRefused(f"a run must be an object {{id, kind, stamp}} with a kind "
                                  f"of {', '.join(RUN_KINDS)}")
    stamp = item.get("stamp", "")
    if not isinstance(stamp, str) or (stamp and not _STAMP.match(stamp)):
        raise AnnouncementRefused("a run's stamp is yyyymmdd-hhmmss-runN")
    return {"id": _whole(item.get("id"), "a run's id"), "kind": item["kind"], "stamp": stamp}


def read_announcement(payload: object) -> dict:
    """The announcement, checked; AnnouncementRefused says what is wrong with it."""
    from cms.sites import list_sites

    if not isinstance(payload, dict):
        raise AnnouncementRefused("an announcement is a JSON object")
    profiles = payload.get("profiles", [])
    if not isinstance(profiles, list) or len(profiles) > MAX_PROFILES:
        raise AnnouncementRefused(f"profiles must be a list of at most {MAX_PROFILES}")
    direction = payload.get("initial_direction")
    if direction not in Relationship.Direction.values:
        raise AnnouncementRefused("initial_direction is upload or download")
    remote_site = _text(payload.get("remote_site", "default"), "remote_site")
    if remote_site not in {s.name for s in list_sites()}:
        raise AnnouncementRefused(f"this instance has no site {remote_site!r}")
    return {"relationship": _whole(payload.get("relationship"), "relationship"),
            "local_site": _text(payload.get("local_site", "default"), "local_site"),
            "remote_site": remote_site, "initial_direction": direction,
            "profiles": [_profile(p) for p in profiles], "run": _run(payload.get("run"))}


# -- recording --------------------------------------------------------------------------------

@transaction.atomic
def announce(peer: TrustedPeer, payload: object) -> PeerRelationship:
    """Record (or bring up to date) the peer's relationship and its profiles; a run named in
    the announcement is opened."""
    said = read_announcement(payload)
    grant, created = PeerRelationship.objects.get_or_create(
        peer=peer, remote_relationship_id=said["relationship"],
        defaults={"local_site": said["remote_site"], "remote_site": said["local_site"],
                  "initial_direction": said["initial_direction"],
                  "writable_items": list(ITEMS)})
    if not created:
        grant.remote_site = said["local_site"]
        grant.initial_direction = said["initial_direction"]
        grant.save(update_fields=["remote_site", "initial_direction", "announced_at"])
    kept = [p["id"] for p in said["profiles"]]
    grant.profiles.exclude(remote_profile_id__in=kept).delete()
    for p in said["profiles"]:
        AnnouncedProfile.objects.update_or_create(
            relationship=grant, remote_profile_id=p["id"],
            defaults={"name": p["name"], "items": p["items"], "direction": p["direction"],
                      "file_filter": p["file_filter"], "extensions": p["extensions"]})
    if said["run"] is not None:
        run = said["run"]
        IncomingRun.objects.update_or_create(
            relationship=grant, remote_run_id=run["id"],
            defaults={"kind": run["kind"], "stamp": run["stamp"],
                      "started_at": timezone.now(), "ended_at": None})
    return grant


def remove(peer: TrustedPeer, remote_relationship_id: object) -> bool:
    """The peer deleted its relationship: nothing of it may write here any more."""
    deleted, _ = PeerRelationship.objects.filter(
        peer=peer, remote_relationship_id=_whole(remote_relationship_id, "relationship"),
    ).delete()
    return bool(deleted)


def incoming_run_of(grant: PeerRelationship, remote_run_id: object) -> IncomingRun | None:
    """The peer's run of this relationship with that id (ended or not), if it was announced."""
    return IncomingRun.objects.filter(relationship=grant,
                                      remote_run_id=_whole(remote_run_id, "run")).first()


def end_run(grant: PeerRelationship, remote_run_id: object) -> bool:
    ended = IncomingRun.objects.filter(
        relationship=grant, remote_run_id=_whole(remote_run_id, "run"), ended_at=None,
    ).update(ended_at=timezone.now())
    return bool(ended)


# -- deciding ---------------------------------------------------------------------------------

def grant_of(peer: TrustedPeer, remote_relationship_id: str | None) -> PeerRelationship:
    """The peer's relationship named by the request; NotAllowed if this instance has none."""
    if not remote_relationship_id or not remote_relationship_id.isdigit() or \
            int(remote_relationship_id) >= _BIG:
        raise NotAllowed(f"{peer.name} named no relationship: every request that reads or "
                         "writes site data belongs to one (update esync on the peer)")
    grant = PeerRelationship.objects.filter(
        peer=peer, remote_relationship_id=int(remote_relationship_id)).first()
    if grant is None:
        raise NotAllowed(f"{peer.name} holds no relationship {remote_relationship_id} with "
                         "this instance (it was deleted, or never announced)")
    return grant


def run_in_progress(grant: PeerRelationship, remote_run_id: str | None,
                    now: dt.datetime | None = None) -> IncomingRun:
    """The run a write belongs to; NotAllowed unless it is in progress."""
    now = now or timezone.now()
    run = None
    if remote_run_id and remote_run_id.isdigit() and int(remote_run_id) < _BIG:
        run = IncomingRun.objects.filter(relationship=grant, remote_run_id=int(remote_run_id),
                                         ended_at=None,
                                         started_at__gt=now - RUN_LIFETIME).first()
    if run is None:
        raise NotAllowed(f"this write belongs to no run of {grant.peer.name} in progress "
                         "here: writes are accepted only between a run's start and its end")
    return run


def writable_items(grant: PeerRelationship) -> set[str]:
    """The file categories (and "database") the peer may write here."""
    announced = {item for p in grant.profiles.all() if p.writes_here for item in p.items}
    return announced & set(grant.writable_items)


def refuse_unless_writable(grant: PeerRelationship, items: list[str]) -> None:
    allowed = writable_items(grant)
    refused = [i for i in items if i not in allowed]
    if refused:
        raise NotAllowed(
            f"{grant.peer.name} may not write {', '.join(refused)} here: no profile of its "
            "relationship moves them towards this instance, or this instance's administrator "
            f"does not allow it (allowed: {', '.join(sorted(allowed)) or 'nothing'})")


def write_admits(grant: PeerRelationship) -> Callable[[str], bool]:
    """Whether a file may be written here: a profile writing towards this instance moves
    it, by its items and its filter (the global exceptions included), as on the sender."""
    filters = [(set(p.items) & set(grant.writable_items),
                FileFilter.of(p.file_filter, p.extensions))
               for p in grant.profiles.all() if p.writes_here]
    resources = "database" in writable_items(grant)

    def admits(relative: str) -> bool:
        if resources and item_of(relative) == "database":
            return True  # the resource folders' files travel with the database
        return any(is_synced(relative, items, file_filter) for items, file_filter in filters)

    return admits


def refuse_unless_initial_destination(grant: PeerRelationship) -> None:
    if grant.initial_direction != Relationship.Direction.UPLOAD:
        raise NotAllowed("this instance is the source of that relationship's initial copy, "
                         "not its destination: it is not overwritten by it")
    if "database" not in grant.writable_items:
        raise NotAllowed("this instance's administrator does not allow that relationship to "
                         "write the database here")


def refuse_unless_initial_source(grant: PeerRelationship) -> None:
    if grant.initial_direction != Relationship.Direction.DOWNLOAD:
        raise NotAllowed("this instance is the destination of that relationship's initial "
                         "copy: it does not send its whole database for it")


# -- this administrator's narrowing -----------------------------------------------------------

def narrow(grant: PeerRelationship, items: list[str], privileged: bool) -> PeerRelationship:
    """What the administrator here allows the relationship to write."""
    unknown = [i for i in items if i not in ITEMS]
    if unknown:
        raise AnnouncementRefused(f"unknown items {', '.join(unknown)}: some of "
                                  f"{', '.join(ITEMS)}")
    grant.writable_items = [i for i in ITEMS if i in items]
    grant.accept_privileged_changes = privileged
    grant.save(update_fields=["writable_items", "accept_privileged_changes"])
    return grant
