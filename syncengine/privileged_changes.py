"""Changes from a peer to privileged accounts wait for an Administrator here.

The initial sync copies users wholesale, as the manual says. After it, a user change from a
peer that would make someone superuser or staff, add them to Administrators or
Synchronization Admin, grant them permissions, or change an Administrator's password or
e-mail is not applied unless the relationship allows such changes (off by default): it is
held (HeldChange), reported among the run's skipped rows with stage "held" and its reasons,
and the rest of its batch applies. An Administrator then accepts it (it is applied as it
arrived) or drops it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from cms.roles import ADMINISTRATORS, SYNCHRONIZATION_ADMIN
from esync_site.refusal import Refusal
from syncengine.apply_changes import ApplyResult, Skip, apply_changes, key_text
from syncengine.change_sets import Change, ChangeSetRejected, specs_by_name
from syncengine.models import HeldChange
from syncengine.tracked_tables import GROUPS_KEY, PERMISSIONS_KEY, USER_TABLE

HELD_STAGE = "held"
PRIVILEGED_GROUPS = (ADMINISTRATORS, SYNCHRONIZATION_ADMIN)


class HeldChangeRefused(Refusal):
    """A decision that cannot be taken (unknown or already decided change)."""


def reasons_to_hold(change: Change) -> list[str]:
    """Why this change may not apply without an Administrator's word (none: it may)."""
    from cms.models import User

    if change.table != USER_TABLE or change.is_delete:
        return []
    row = change.row or {}
    current = User.objects.filter(pk=change.key[0]).prefetch_related(
        "groups", "user_permissions__content_type").first()
    groups_now = {g.name for g in current.groups.all()} if current else set()
    perms_now = ({f"{p.content_type.app_label}.{p.codename}"
                  for p in current.user_permissions.all()} if current else set())
    reasons = []
    if row.get("is_superuser") is True and not (current and current.is_superuser):
        reasons.append("becomes a superuser")
    if row.get("is_staff") is True and not (current and current.is_staff):
        reasons.append("becomes staff")
    groups = row.get(GROUPS_KEY, [])
    for name in PRIVILEGED_GROUPS:
        if isinstance(groups, list) and name in groups and name not in groups_now:
            reasons.append(f"joins {name}")
    permissions = row.get(PERMISSIONS_KEY, [])
    added = sorted({str(p) for p in permissions} - perms_now) if isinstance(
        permissions, list) else []
    if added:
        reasons.append(f"gains the permissions {', '.join(added[:5])}"
                       + (f" and {len(added) - 5} more" if len(added) > 5 else ""))
    privileged_now = current is not None and (current.is_superuser or ADMINISTRATORS in
                                              groups_now)
    if privileged_now and "password" in row and row["password"] != current.password:
        reasons.append("an Administrator's password changes")
    if privileged_now and "email" in row and row["email"] != current.email:
        reasons.append("an Administrator's e-mail changes")
    return reasons


def hold_back(changes: list[Change], origin: str, peer_name: str,
              accept: bool) -> tuple[list[Change], list[Skip]]:
    """The changes that may apply, and a Skip for each one held (stored for review)."""
    if accept:
        return changes, []
    allowed, held = [], []
    for change in changes:
        reasons = reasons_to_hold(change)
        if not reasons:
            allowed.append(change)
            continue
        username = str((change.row or {}).get("username", ""))[:150]
        HeldChange.objects.create(
            peer_name=peer_name[:100], origin=origin[:36], table_name=change.table,
            row_key=key_text(change.key)[:200], username=username, change=change.as_wire(),
            reasons="; ".join(reasons))
        held.append(Skip(change.table, HELD_STAGE,
                         f"held for an Administrator's review: {username or 'a user'} "
                         f"{'; '.join(reasons)}", key_text(change.key)))
    return allowed, held


def apply_held_back(changes: list[Change], origin: str, peer_name: str,
                    accept: bool) -> ApplyResult:
    """apply_changes, with privileged-account changes held (listed among the skipped)."""
    allowed, held = hold_back(changes, origin, peer_name, accept)
    result = apply_changes(allowed, origin=origin) if allowed else ApplyResult()
    result.skipped += held
    return result


def pending() -> list[HeldChange]:
    return list(HeldChange.objects.filter(decision=""))


@transaction.atomic
def decide(held_id: int, accept: bool, by: str) -> ApplyResult:
    """An Administrator's decision: accepting applies the change as it arrived."""
    HeldChange.objects.select_for_update().filter(pk=held_id).first()  # one decision at once
    held = find_pending(held_id)
    result = ApplyResult()
    if accept:
        try:
            change = Change.from_wire(held.change, specs_by_name())
        except ChangeSetRejected as error:
            raise HeldChangeRefused(f"held change {held_id} no longer fits this database: "
                                    f"{error}") from error
        result = apply_changes([change], origin=held.origin)
        if result.skipped:  # nothing was applied: it stays held, the reason said
            raise HeldChangeRefused(f"held change {held_id} could not be applied: "
                                    f"{result.skipped[0].error}; it stays held")
    held.decision = HeldChange.Decision.ACCEPTED if accept else HeldChange.Decision.DROPPED
    held.decided_at, held.decided_by = timezone.now(), by[:150]
    held.save(update_fields=["decision", "decided_at", "decided_by"])
    return result


def find_pending(held_id: int) -> HeldChange:
    """The held change awaiting a decision, or a refusal saying why there is none."""
    held = HeldChange.objects.filter(pk=held_id).first()
    if held is None:
        raise HeldChangeRefused(f"there is no held change {held_id}")
    if held.decision:
        raise HeldChangeRefused(f"held change {held_id} was already {held.decision} by "
                                f"{held.decided_by or 'someone'}")
    return held


def decide_and_say(held_id: int, accept: bool, by: str) -> str:
    """decide, and the sentence that tells what happened (the screen's and the CLI's)."""
    decide(held_id, accept, by)
    held = HeldChange.objects.get(pk=held_id)
    what = f"{held.username or f'user {held.row_key}'}: {held.reasons}"
    if accept:
        return f"Accepted held change {held_id} from {held.peer_name} ({what}); it is applied."
    return (f"Dropped held change {held_id} from {held.peer_name} ({what}); nothing was "
            "changed.")


def held_count(skipped: list[Skip]) -> int:
    return sum(1 for s in skipped if s.stage == HELD_STAGE)


def held_note(count: int) -> str:
    """The run log's part about held changes (empty when none was held)."""
    if not count:
        return ""
    return (f"{count} privileged-account change{'s' if count != 1 else ''} held for an "
            "Administrator (see Held changes)")


def as_dict(held: HeldChange) -> dict:
    return {"id": held.id, "peer": held.peer_name, "table": held.table_name,
            "key": held.row_key, "username": held.username, "reasons": held.reasons,
            "received_at": held.received_at.isoformat(),
            "decision": held.decision, "decided_by": held.decided_by,
            "decided_at": held.decided_at.isoformat() if held.decided_at else None}
