"""Synchronization Preview: what the next run of a profile would move, changing nothing.

The plan comes from `db_sync.plan_sync`, the same planner a run uses, so the preview and the
run cannot disagree. This module only shapes it into plain dicts for the screen and the CLI:
per table, the local changes that would go to the peer and the remote changes that would come
here, and the conflicts with the side that would win. Content rows show the manual's columns
(id, language, title, status, folder, last editor, edit date).
"""

from __future__ import annotations

from collections.abc import Iterable

from esync_site.refusal import Refusal
from syncengine.apply_changes import key_text
from syncengine.change_sets import Change
from syncengine.db_sync import SyncPlan, client_for, plan_sync
from syncengine.peer_client import PeerClient

CONTENT_TABLE = "cms_content"
OPERATIONS = {"I": "insert", "U": "update", "D": "delete"}
# A preview is a page someone waits for: a shorter read timeout than a run's.
PREVIEW_READ_TIMEOUT = 60


class PreviewRefused(Refusal):
    pass


def preview_profile(profile, client: PeerClient | None = None) -> dict:
    """What the next run of `profile` would move. Talks to the peer (read-only) and raises
    a PeerError when it cannot; writes nothing here or there."""
    relationship = profile.relationship
    if not relationship.is_staged:
        raise PreviewRefused(
            f"The relationship with {relationship.remote_name} has not been initialized: run "
            "its initial sync first; there is nothing to preview before it.")
    if "database" not in profile.items:
        raise PreviewRefused(f"The profile {profile.name!r} does not sync the database; only "
                             "database profiles can be previewed.")
    client = client or client_for(relationship, read_timeout=PREVIEW_READ_TIMEOUT)
    plan = plan_sync(relationship, profile.direction, profile.policy, client)
    return {"profile": profile.id, "profile_name": profile.name,
            "remote_name": relationship.remote_name, **shape_plan(plan)}


def shape_plan(plan: SyncPlan) -> dict:
    """The plan as plain data: local (outgoing) and remote (incoming) changes per table."""
    editors = _editor_names(plan.outgoing + plan.incoming)
    return {
        "direction": plan.direction,
        "policy": plan.policy,
        "local": _by_table(plan.outgoing, editors),
        "remote": _by_table(plan.incoming, editors),
        "conflicts": [{"table": c.table, "key": key_text(c.key),
                       "local_op": OPERATIONS[c.local.op], "remote_op": OPERATIONS[c.remote.op],
                       "winner": c.winner} for c in plan.conflicts],
    }


def _by_table(changes: Iterable[Change], editors: dict[int, str]) -> list[dict]:
    tables: dict[str, list[dict]] = {}
    for change in sorted(changes, key=lambda c: (c.table, c.seq)):
        tables.setdefault(change.table, []).append(_describe(change, editors))
    return [{"table": table, "changes": rows} for table, rows in sorted(tables.items())]


def _describe(change: Change, editors: dict[int, str]) -> dict:
    item = {"op": OPERATIONS.get(change.op, change.op), "key": key_text(change.key)}
    if change.table == CONTENT_TABLE and change.row is not None:
        row = change.row
        editor_id = row.get("last_editor_id")
        item["content"] = {
            "id": row.get("id"), "language": row.get("language"), "title": row.get("title"),
            "status": row.get("status"), "folder": row.get("folder_id"),
            "last_editor": editors.get(editor_id, "" if editor_id is None else str(editor_id)),
            "edit_date": row.get("edited_at"),
        }
    return item


def _editor_names(changes: list[Change]) -> dict[int, str]:
    """Editors' names as known here; an editor only on the peer shows by id."""
    from cms.models import User

    ids = {c.row.get("last_editor_id") for c in changes
           if c.table == CONTENT_TABLE and c.row is not None} - {None}
    names = {}
    for user in User.objects.filter(id__in=ids):
        full = f"{user.last_name}, {user.first_name}".strip(", ")
        names[user.id] = f"{full} ({user.username})" if full else user.username
    return names
