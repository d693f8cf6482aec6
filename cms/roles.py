"""The groups the manual names: Administrators, and the Synchronization Admin role."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group

ADMINISTRATORS = "Administrators"
SYNCHRONIZATION_ADMIN = "Synchronization Admin"


def ensure_groups() -> None:
    for name in (ADMINISTRATORS, SYNCHRONIZATION_ADMIN):
        Group.objects.get_or_create(name=name)


def in_group(user, name: str) -> bool:
    if isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return False
    return user.groups.filter(name=name).exists()


def is_administrator(user) -> bool:
    return in_group(user, ADMINISTRATORS)


def can_administer_sync(user) -> bool:
    """Administrators and Synchronization Admins reach the Synchronization screens."""
    if isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return False
    return user.groups.filter(name__in=[ADMINISTRATORS, SYNCHRONIZATION_ADMIN]).exists()


def roles_of(user) -> set[str]:
    """The manual's roles this user holds, in one query."""
    if isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return set()
    return set(user.groups.filter(name__in=[ADMINISTRATORS, SYNCHRONIZATION_ADMIN])
               .values_list("name", flat=True))


def can_approve(user) -> bool:
    return is_administrator(user) or user.has_perm("cms.approve_content")
