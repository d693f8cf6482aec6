"""Deleting a relationship: its profiles, schedules and anchors go; no data is touched."""

from __future__ import annotations

from django.db import transaction

from relationships import announcements
from relationships.models import Relationship


def delete_relationship(relationship: Relationship) -> str:
    """Delete it here and tell the peer (best effort); what went wrong telling it, or ""."""
    told = announcements.withdraw(relationship)
    _delete(relationship)
    return told


@transaction.atomic
def _delete(relationship: Relationship) -> None:
    # Profiles cascade with the relationship; runs keep their logs (relationship set null).
    from syncengine.file_state import forget_base

    relationship_id = relationship.pk
    relationship.delete()
    forget_base(relationship_id)
