"""Editing content: create, save a new version, submit, approve. Every save is a version."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cms import roles
from cms.models import Content, ContentHistory, Folder, User


class ContentActionRefused(Exception):
    """The action is not allowed for this user or this content; the message says why."""


def _record_version(content: Content, editor: User | None, comment: str = "") -> ContentHistory:
    latest = content.history.aggregate(v=Max("version"))["v"] or 0
    return ContentHistory.objects.create(
        content=content,
        version=latest + 1,
        language=content.language,
        title=content.title,
        html=content.html,
        status=content.status,
        editor=editor,
        saved_at=content.edited_at,
        comment=comment,
    )


@transaction.atomic
def create_content(
    folder: Folder,
    title: str,
    html: str,
    editor: User | None,
    kind: str = Content.Kind.HTML,
    language: int | None = None,
) -> Content:
    fields = {"language": language} if language else {}
    content = Content.objects.create(
        folder=folder, title=title, html=html, kind=kind, last_editor=editor,
        status=Content.Status.CHECKED_IN, edited_at=timezone.now(), **fields,
    )
    _record_version(content, editor, "Created")
    return content


@transaction.atomic
def save_content(content: Content, title: str, html: str, editor: User | None) -> Content:
    """Save an edit as a new version; an approved item goes back to checked in."""
    content.title = title
    content.html = html
    content.last_editor = editor
    content.edited_at = timezone.now()
    content.status = Content.Status.CHECKED_IN
    content.save()
    _record_version(content, editor, "Saved")
    return content


@transaction.atomic
def submit_content(content: Content, user: User) -> Content:
    if content.status == Content.Status.APPROVED:
        raise ContentActionRefused("This content is already approved.")
    content.status = Content.Status.SUBMITTED
    content.save(update_fields=["status"])
    return content


@transaction.atomic
def approve_content(content: Content, user: User) -> Content:
    if not roles.can_approve(user):
        raise ContentActionRefused("Only Administrators and approvers can approve content.")
    if content.status == Content.Status.APPROVED:
        raise ContentActionRefused("This content is already approved.")
    content.status = Content.Status.APPROVED
    content.last_editor = user
    content.edited_at = timezone.now()
    content.save(update_fields=["status", "last_editor", "edited_at"])
    _record_version(content, user, "Approved")
    return content
