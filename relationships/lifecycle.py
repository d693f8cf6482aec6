"""Deleting a relationship: its profiles, schedules and anchors go; no data is touched."""

from __future__ import annotations

from django.db import transaction

from relationships.models import Relationship


@transaction.atomic
def delete_relationship(relationship: Relationship) -> None:
    # Profiles cascade with the relationship; runs keep their logs (relationship set null).
    from syncengine.file_state import forget_base

    relationship_id = relationship.pk
    relationship.delete()
    forget_base(relationship_id)
