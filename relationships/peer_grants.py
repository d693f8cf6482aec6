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
from esync_site.whole_numbers import whole_number
from relationships.models import AnnouncedProfile, IncomingRun, PeerRelationship, Relationship
from syncengine.file_rules import (
    GLOBAL_EXCEPTIONS,
    ITEMS,
    FileFilter,
    FilterRefused,
    folder_item,
    is_synced,
    is_synced_folder,
    item_of,
)

DIRECTIONS = ("upload", "download", "bidirectional")
RUN_KINDS = ("FullStage", "FullSync", "FileSync", "ContentSync", "FolderSync")
MAX_PROFILES = 1000
# A run that never said it ended stops counting as in progress after this long.
RUN_LIFETIME = dt.timedelta(hours=24)
_STAMP = re.compile(r"\d{8}-\d{6}-run\d+")  # fullmatch: `$` would let a newline end it
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
    if not isinstance(stamp, str) or (stamp and not _STAMP.fullmatch(stamp)):
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
                  "writable_items": _ceiling_of(peer)})
    if not created:  # a withdrawn one comes back with its narrowing
        grant.local_site = said["remote_site"]
        grant.remote_site = said["local_site"]
        grant.initial_direction = said["initial_direction"]
        grant.withdrawn_at = None
        grant.save(update_fields=["local_site", "remote_site", "initial_direction",
                                  "withdrawn_at", "announced_at"])
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


def _ceiling_of(peer: TrustedPeer) -> list[str]:
    """What a relationship the peer announces for the first time may write here at most: what
    its other relationships here may, withdrawn ones included (all items for its first). A
    peer cannot step around this administrator's narrowing by announcing another
    relationship id, nor by withdrawing the narrowed one first."""
    allowed = set(ITEMS)
    for items in PeerRelationship.objects.filter(peer=peer).values_list("writable_items",
                                                                         flat=True):
        allowed &= set(items)
    return [i for i in ITEMS if i in allowed]


def remove(peer: TrustedPeer, remote_relationship_id: object) -> bool:
    """The peer deleted its relationship: nothing of it may read or write here any more.
    The record stays, withdrawn, with this administrator's narrowing (see _ceiling_of)."""
    grant = PeerRelationship.objects.active().filter(
        peer=peer, remote_relationship_id=_whole(remote_relationship_id, "relationship"),
    ).first()
    if grant is None:
        return False
    with transaction.atomic():
        grant.profiles.all().delete()
        grant.runs.filter(ended_at=None).update(ended_at=timezone.now())
        grant.withdrawn_at = timezone.now()
        grant.save(update_fields=["withdrawn_at"])
    return True


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
    number = whole_number(remote_relationship_id)
    if number is None:
        raise NotAllowed(f"{peer.name} named no relationship: every request that reads or "
                         "writes site data belongs to one (update esync on the peer)")
    grant = PeerRelationship.objects.active().filter(
        peer=peer, remote_relationship_id=number).first()
    if grant is None:
        raise NotAllowed(f"{peer.name} holds no relationship {remote_relationship_id} with "
                         "this instance (it was deleted, or never announced)")
    return grant


def run_in_progress(grant: PeerRelationship, remote_run_id: str | None,
                    now: dt.datetime | None = None) -> IncomingRun:
    """The run a write belongs to; NotAllowed unless it is in progress."""
    now = now or timezone.now()
    run, number = None, whole_number(remote_run_id)
    if number is not None:
        run = IncomingRun.objects.filter(relationship=grant, remote_run_id=number,
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
    """NotAllowed, saying why, unless the peer may write all of `items` here. The sentence
    names both servers: it ends up in the log of the run on the peer."""
    allowed = writable_items(grant)
    refused = [i for i in ITEMS if i in items and i not in allowed]
    if not refused:
        return
    here, peer = _this_instance(), grant.peer.name
    held_back = [i for i in refused if i not in grant.writable_items]
    unannounced = [i for i in refused if i not in held_back]
    reasons = []
    if held_back:
        reasons.append(f"{here}'s administrator does not allow {peer} to write "
                       f"{_and(held_back)} there")
    if unannounced:
        reasons.append(f"no profile of {peer}'s relationship {grant.remote_relationship_id} "
                       f"moves {_and(unannounced)} towards {here} (upload or bidirectional)")
    raise NotAllowed(f"{peer} may not write {_and(refused)} on {here}: "
                     f"{'; '.join(reasons)}. It may write: {_and(sorted_items(allowed))}.")


def _this_instance() -> str:
    from django.conf import settings

    return settings.ESYNC.name


def _and(items: list[str]) -> str:
    """`database, templates and bin`; `nothing` for none."""
    if not items:
        return "nothing"
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def sorted_items(items) -> list[str]:
    """The items in the screens' order (database, workarea, templates, bin)."""
    return [i for i in ITEMS if i in items]


def write_admits(grant: PeerRelationship) -> Callable[..., bool]:
    """Whether a file (or, with `folder`, a folder itself) may be written here: a profile
    writing towards this instance moves it, by its items and its filter (the global
    exceptions included), as on the sender."""
    filters = [(set(p.items) & set(grant.writable_items),
                FileFilter.of(p.file_filter, p.extensions))
               for p in grant.profiles.all() if p.writes_here]
    resources = "database" in writable_items(grant)

    def admits(relative: str, folder: bool = False) -> bool:
        if resources and (folder_item(relative) if folder else item_of(relative)) == "database":
            return True  # the resource folders' files travel with the database
        synced = is_synced_folder if folder else is_synced
        return any(synced(relative, items, file_filter) for items, file_filter in filters)

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
    """What the administrator here allows the relationship to write at most: some of ITEMS
    (none stops every write), and whether privileged-account changes apply or are held."""
    if not isinstance(items, list | tuple | set) or not all(isinstance(i, str) for i in items):
        raise AnnouncementRefused(f"items are a list of some of {', '.join(ITEMS)}")
    unknown = [i for i in items if i not in ITEMS]
    if unknown:
        raise AnnouncementRefused(f"unknown items {', '.join(unknown)}: some of "
                                  f"{', '.join(ITEMS)}")
    grant.writable_items = sorted_items(items)
    grant.accept_privileged_changes = bool(privileged)
    grant.save(update_fields=["writable_items", "accept_privileged_changes"])
    return grant


def may_write_in_words(grant: PeerRelationship) -> str:
    """What the peer may now write here, as the screen and the command line say it."""
    allowed = sorted_items(writable_items(grant))
    privileged = ("privileged-account changes apply" if grant.accept_privileged_changes
                  else "privileged-account changes are held for review")
    if not allowed:
        return f"{grant.peer.name} may now write nothing here."
    database = f"; {privileged}" if "database" in allowed else ""
    return f"{grant.peer.name} may now write {_and(allowed)} here{database}."


DIRECTION_WORDS = {"upload": "Upload ({peer} → here)", "download": "Download (here → {peer})",
                   "bidirectional": "Bidirectional"}


def filter_in_words(profile: AnnouncedProfile) -> str:
    """The announced profile's file filter, with what it means for the global exceptions."""
    exceptions = ", ".join(sorted(GLOBAL_EXCEPTIONS))
    if profile.file_filter == "include":
        return f"Only include {profile.extensions}"
    if profile.file_filter == "exclude":
        return f"Exclude {profile.extensions} (and {exceptions})"
    return f"No filter (all but {exceptions})"


def described(grant: PeerRelationship) -> dict:
    """A peer's relationship here as the screen and `esync relationship peers` show it: its
    announced profiles, which of them write here and what, and this administrator's
    narrowing. Reads `grant.profiles.all()` (prefetch it for many)."""
    allowed = writable_items(grant)
    peer = grant.peer.name
    return {
        "id": grant.id, "peer": peer, "remote_relationship_id": grant.remote_relationship_id,
        "local_site": grant.local_site, "remote_site": grant.remote_site,
        "initial_direction": grant.initial_direction,
        "announced_at": grant.announced_at.isoformat() if grant.announced_at else None,
        "profiles": [{
            "id": p.remote_profile_id, "name": p.name, "items": sorted_items(p.items),
            "direction": p.direction,
            "direction_words": DIRECTION_WORDS.get(p.direction, p.direction).format(peer=peer),
            "filter": p.file_filter, "extensions": p.extensions,
            "filter_words": filter_in_words(p),
            "writes_here": sorted_items(set(p.items) & allowed) if p.writes_here else [],
        } for p in grant.profiles.all()],
        "allowed_items": sorted_items(grant.writable_items),
        "may_write": sorted_items(allowed),
        "accept_privileged_changes": grant.accept_privileged_changes,
        "in_words": may_write_in_words(grant),
    }
