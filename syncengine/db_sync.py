"""The change-tracked database sync of a profile: plan what moves, settle conflicts, apply.

The initiator does the work. It reads its own changes since the relationship's anchor
(leaving out rows that came from this peer), asks the peer for the peer's changes since the
other anchor (the peer leaves out rows that came from us), and then, by direction:

- upload: local changes are applied on the peer (remote rows overwritten);
- download: the peer's changes are applied here;
- bidirectional: both; a row changed on both sides is a conflict, settled by the profile's
  policy. The losing version is kept (ConflictRecord; for content also a history version).

Incoming changes are applied here in one transaction that also moves the "remote applied"
anchor; outgoing ones in dependency-ordered batches, each one transaction on the peer, and the
"local sent" anchor moves once all are in. Applying is idempotent (rows are upserted by key,
deleting what is gone is a no-op), so a run cut off anywhere is finished by the next one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max

from syncengine import change_log
from syncengine.apply_changes import ApplyResult, CollisionNote, key_text
from syncengine.change_sets import Change, from_lines, specs_by_name, to_lines, with_rows
from syncengine.models import Anchor, Collision, ConflictRecord, SkippedRow, SyncRun
from syncengine.peer_client import PeerClient
from syncengine.privileged_changes import apply_held_back, held_count
from syncengine.tracked_tables import in_dependency_order

OUTGOING_BATCH = 2000
LOCAL, REMOTE = "local", "remote"
UPLOAD, DOWNLOAD, BIDIRECTIONAL = "upload", "download", "bidirectional"
LOCAL_WINS = "local-wins"


@dataclass
class Conflict:
    table: str
    key: tuple
    local: Change
    remote: Change
    winner: str

    @property
    def loser(self) -> Change:
        return self.remote if self.winner == LOCAL else self.local


@dataclass
class SyncPlan:
    direction: str
    policy: str
    local_mark: int
    remote_mark: int
    local_changes: list[Change]
    remote_changes: list[Change]
    outgoing: list[Change] = field(default_factory=list)
    incoming: list[Change] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


@dataclass
class SyncOutcome:
    applied: int = 0
    skipped: int = 0
    total: int = 0
    conflicts: int = 0
    collisions: int = 0
    held: int = 0  # privileged-account changes held for an Administrator (either side)

    def add(self, other: SyncOutcome) -> None:
        for name in ("applied", "skipped", "total", "conflicts", "collisions", "held"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def current_anchor(relationship, source: str = "site") -> Anchor:
    """The anchor as it stands, without creating one (a preview writes nothing)."""
    return (Anchor.objects.filter(relationship=relationship, source=source).first()
            or Anchor(relationship=relationship, source=source))


def anchor_for(relationship, source: str = "site") -> Anchor:
    anchor, _ = Anchor.objects.get_or_create(relationship=relationship, source=source)
    return anchor


def client_for(relationship, run=None, **options) -> PeerClient:
    """A client for the relationship's peer; its requests belong to the relationship and,
    given one, to the run (the peer refuses writes that belong to no run in progress)."""
    return PeerClient.for_peer(relationship.certificate, relationship.remote_host,
                               relationship.remote_port,
                               **{"read_timeout": 600, **options},
                               relationship_id=relationship.pk,
                               run_id=run.pk if run is not None else None)


# -- planning ---------------------------------------------------------------------------------

def read_remote_changes(client: PeerClient, since: int) -> tuple[int, list[Change]]:
    with client.open("GET", f"/changes?since={int(since)}") as response:
        from syncengine.table_copy import split_lines

        return from_lines(split_lines(response.body))


def plan_sync(relationship, direction: str, policy: str,
              client: PeerClient | None = None) -> SyncPlan:
    """What the next run of this direction and policy would move (changes nothing)."""
    anchor = current_anchor(relationship)
    peer_id = str(relationship.remote_server_id)
    local_mark = change_log.high_water_mark()
    local = with_rows(change_log.changes_between(anchor.local_sent, local_mark,
                                                 exclude_origin=peer_id))
    remote_mark, remote = read_remote_changes(client or client_for(relationship),
                                              anchor.remote_applied)
    return settle(SyncPlan(direction, policy, local_mark, remote_mark, local, remote))


def settle(plan: SyncPlan) -> SyncPlan:
    """Fill in what moves. A row changed on both sides is a conflict: upload keeps ours,
    download theirs, bidirectional follows the policy; the same edit on both, or a delete on
    both, is no conflict and moves nothing."""
    remote_by_key = {(c.table, c.key): c for c in plan.remote_changes}
    local_by_key = {(c.table, c.key): c for c in plan.local_changes}
    settled: set[tuple] = set()
    for ident, mine in local_by_key.items():
        theirs = remote_by_key.get(ident)
        if theirs is None:
            continue
        settled.add(ident)
        if mine.is_delete and theirs.is_delete:
            continue
        if not mine.is_delete and not theirs.is_delete and same_row(mine.row, theirs.row):
            continue
        if plan.direction == BIDIRECTIONAL:
            winner = LOCAL if plan.policy == LOCAL_WINS else REMOTE
        else:
            winner = LOCAL if plan.direction == UPLOAD else REMOTE
        plan.conflicts.append(Conflict(ident[0], ident[1], mine, theirs, winner))
        if winner == LOCAL:
            plan.outgoing.append(mine)
        else:
            plan.incoming.append(theirs)
    if plan.direction in (UPLOAD, BIDIRECTIONAL):
        plan.outgoing += [c for i, c in local_by_key.items() if i not in settled]
    if plan.direction in (DOWNLOAD, BIDIRECTIONAL):
        plan.incoming += [c for i, c in remote_by_key.items() if i not in settled]
    return plan


def same_row(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# -- running ----------------------------------------------------------------------------------

def sync_database(run: SyncRun, profile, progress: Callable[..., None]) -> SyncOutcome:
    """One profile run's database part. `progress(**fields)` reports to the run."""
    relationship = profile.relationship
    client = client_for(relationship, run)
    progress(phase="Reading the changes on both sides")
    plan = plan_sync(relationship, profile.direction, profile.policy, client)
    outcome = SyncOutcome(total=len(plan.incoming) + len(plan.outgoing),
                          conflicts=len(plan.conflicts))
    progress(total=outcome.total, done=0)
    record_here = profile.direction in (DOWNLOAD, BIDIRECTIONAL)
    record_there = profile.direction in (UPLOAD, BIDIRECTIONAL)

    progress(phase=f"Applying {len(plan.incoming)} remote changes here")
    peer_id = str(relationship.remote_server_id)
    with transaction.atomic():
        here = (apply_held_back(plan.incoming, peer_id, relationship.remote_name,
                                relationship.accept_privileged_changes)
                if plan.incoming else ApplyResult())
        _keep_losers(run, relationship, plan)
        record_skips(run, here, LOCAL)
        if record_here:
            record_collisions(here.collisions, run)
        if profile.direction != UPLOAD:
            Anchor.objects.filter(id=anchor_for(relationship).id).update(
                remote_applied=plan.remote_mark)
    outcome.applied += here.applied
    outcome.skipped += len(here.skipped)
    progress(done=len(plan.incoming), applied=outcome.applied, skipped=outcome.skipped)

    there = ApplyResult()
    if profile.direction != DOWNLOAD:
        progress(phase=f"Sending {len(plan.outgoing)} local changes")
        outgoing = _refreshed(plan.outgoing)
        for batch in batches(outgoing):
            result = send_batch(client, plan.local_mark, batch, record_there)
            there.add(result)
            progress(done=outcome.total and min(outcome.total,
                                                len(plan.incoming) + there.applied
                                                + len(there.skipped)),
                     applied=outcome.applied + there.applied,
                     skipped=outcome.skipped + len(there.skipped))
        # Both sides resolve the same clash (each renames the newer row as it meets the
        # other's), so a rename already recorded on one side is not recorded there again.
        only_there = _not_in(there.collisions, here.collisions)
        with transaction.atomic():
            record_skips(run, there, REMOTE)
            if profile.direction == BIDIRECTIONAL:
                record_collisions(only_there, run)
            Anchor.objects.filter(id=anchor_for(relationship).id).update(
                local_sent=plan.local_mark)
        only_here = _not_in(here.collisions, there.collisions)
        if profile.direction == BIDIRECTIONAL and only_here:
            client.post_json("/collisions", {"collisions": [c.as_dict() for c in only_here]})
        outcome.collisions = len(here.collisions) + len(only_there)
    else:
        outcome.collisions = len(here.collisions)
    outcome.applied += there.applied
    outcome.skipped += len(there.skipped)
    outcome.held = held_count(here.skipped) + held_count(there.skipped)
    return outcome


def _not_in(notes: list[CollisionNote], others: list[CollisionNote]) -> list[CollisionNote]:
    seen = {(n.table, n.row_id, n.modified_name) for n in others}
    return [n for n in notes if (n.table, n.row_id, n.modified_name) not in seen]


def _refreshed(changes: list[Change]) -> list[Change]:
    """Outgoing rows as they are now (a collision may have renamed one meanwhile)."""
    logged = [change_log.LoggedChange(c.seq, c.table, c.key, c.op, "") for c in changes]
    return with_rows(logged)


def batches(changes: list[Change]) -> list[list[Change]]:
    """Parents' rows before their children's, deletes after all, children's first."""
    order = {s.name: i for i, s in enumerate(in_dependency_order(specs_by_name().values()))}
    upserts = sorted((c for c in changes if not c.is_delete), key=lambda c: order[c.table])
    deletes = sorted((c for c in changes if c.is_delete), key=lambda c: -order[c.table])
    ordered = upserts + deletes
    return [ordered[i:i + OUTGOING_BATCH] for i in range(0, len(ordered), OUTGOING_BATCH)]


def send_batch(client: PeerClient, mark: int, batch: list[Change], record: bool) -> ApplyResult:
    body = b"".join(to_lines(mark, batch))
    query = "?record_collisions=1" if record else ""
    with client.open("POST", f"/changes/apply{query}", body=body,
                     headers={"Content-Type": "application/x-ndjson",
                              "Content-Length": str(len(body))}) as response:
        return ApplyResult.from_dict(json.loads(b"".join(response.body)))


def record_skips(run: SyncRun, result: ApplyResult, side: str) -> None:
    SkippedRow.objects.bulk_create([
        SkippedRow(run=run, side=side, table_name=s.table, stage=s.stage, error=s.error,
                   remote_key=s.key if side == LOCAL else "",
                   local_key=s.key if side == REMOTE else "")
        for s in result.skipped])


def record_collisions(notes: list[CollisionNote], run: SyncRun | None = None) -> None:
    Collision.objects.bulk_create([
        Collision(run=run, kind=n.kind, table_name=n.table, row_id=n.row_id,
                  original_name=n.original_name, modified_name=n.modified_name)
        for n in notes])



def _keep_losers(run: SyncRun, relationship, plan: SyncPlan) -> None:
    """Every conflict's losing version goes to the archive; content's also into its history."""
    for conflict in plan.conflicts:
        ConflictRecord.objects.create(
            run=run, relationship=relationship, table_name=conflict.table,
            row_key=key_text(conflict.key), policy=plan.policy if plan.direction ==
            BIDIRECTIONAL else plan.direction, winner_side=conflict.winner,
            local_version=conflict.local.row, remote_version=conflict.remote.row)
        loser = conflict.loser.row
        if conflict.table == "cms_content" and loser is not None:
            _history_of_loser(conflict.key[0], loser, conflict, run)


def _history_of_loser(content_id: int, loser: dict, conflict: Conflict, run: SyncRun) -> None:
    from cms.models import Content, ContentHistory

    if not Content.objects.filter(id=content_id).exists():
        return
    version = (ContentHistory.objects.filter(content_id=content_id)
               .aggregate(v=Max("version"))["v"] or 0) + 1
    side = "remote" if conflict.winner == LOCAL else "local"
    ContentHistory.objects.create(
        content_id=content_id, version=version, language=loser.get("language", 1033),
        title=loser.get("title", ""), html=loser.get("html", ""),
        status=loser.get("status", "I"), editor=None,
        comment=f"The {side} version, which lost a sync conflict (run #{run.id})")
