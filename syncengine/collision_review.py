"""Review Synchronization Collisions: the renamed items waiting for an administrator's eye.

Each kind (users, folders, metadata definitions, messages) is its own tab; marking items
reviewed takes them off the screen and keeps who did it and when.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from esync_site.refusal import Refusal
from syncengine.models import Collision


class UnknownCollisions(Refusal):
    def __init__(self, ids: Iterable[int]) -> None:
        listed = ", ".join(str(i) for i in sorted(ids))
        super().__init__(f"There are no collisions with the ids {listed}; see "
                         "`esync collisions`. Nothing was marked reviewed.")


def unreviewed() -> QuerySet[Collision]:
    return Collision.objects.filter(reviewed_at__isnull=True).order_by("id")


def has_unreviewed() -> bool:
    return unreviewed().exists()


def describe(collision: Collision) -> dict:
    return {"id": collision.id, "kind": collision.kind, "table": collision.table_name,
            "row_id": collision.row_id, "original_name": collision.original_name,
            "modified_name": collision.modified_name, "run": collision.run_id,
            "created_at": collision.created_at.isoformat()}


def tabs() -> list[dict]:
    """One section per kind, in the manual's order, with its unreviewed collisions."""
    pending = list(unreviewed())
    return [{"kind": kind, "label": label,
             "collisions": [c for c in pending if c.kind == kind]}
            for kind, label in Collision.Kind.choices]


def mark_reviewed(ids: Iterable[int], user_name: str) -> int:
    """Mark these collisions reviewed; returns how many were newly marked. Refuses (and
    marks none) if any id is unknown."""
    wanted = {int(i) for i in ids}
    if not wanted:
        raise Refusal("Select the collisions to mark reviewed.")
    with transaction.atomic():
        known = set(Collision.objects.filter(id__in=wanted).values_list("id", flat=True))
        if wanted - known:
            raise UnknownCollisions(wanted - known)
        return Collision.objects.filter(id__in=wanted, reviewed_at__isnull=True).update(
            reviewed_at=timezone.now(), reviewed_by=user_name)


SUBJECT_TEMPLATE = "syncengine/email/collision_subject.txt"
BODY_TEMPLATE = "syncengine/email/collision_body.txt"


def mark_reviewed_and_email(ids: Iterable[int], user_name: str) -> tuple[int, list[str]]:
    """The Users tab's Mark Reviewed and Email: each renamed user gets the manual's message
    with the new user name (the templates SUBJECT_TEMPLATE and BODY_TEMPLATE; an instance
    may override them in HOME/templates), then the collisions are marked reviewed. Returns
    how many were marked and the users who have no e-mail address (marked, not mailed)."""
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    from cms.models import User

    wanted = {int(i) for i in ids}
    collisions = list(Collision.objects.filter(id__in=wanted))
    if any(c.kind != Collision.Kind.USER for c in collisions):
        raise Refusal("Mark Reviewed and Email is for user name collisions only.")
    users = {u.id: u for u in User.objects.filter(id__in=[c.row_id for c in collisions])}
    no_address = []
    with transaction.atomic():
        marked = mark_reviewed(wanted, user_name)  # refuses unknown ids before any mail
        for collision in collisions:
            if collision.reviewed_at is not None:
                continue  # reviewed before: mailed then, if ever
            user = users.get(collision.row_id)
            if user is None or not user.email:
                no_address.append(collision.modified_name)
                continue
            context = {"new_username": user.username, "old_username": collision.original_name}
            send_mail(render_to_string(SUBJECT_TEMPLATE, context).strip(),
                      render_to_string(BODY_TEMPLATE, context), None, [user.email])
    return marked, no_address
