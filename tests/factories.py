"""Small factories for CMS data in in-process tests."""

from __future__ import annotations

import itertools

from cms import content as content_service
from cms.models import Content, Folder, User

_counter = itertools.count(1)


def folder(name: str | None = None, parent: Folder | None = None) -> Folder:
    return Folder.objects.create(name=name or f"Folder {next(_counter)}", parent=parent)


def content(in_folder: Folder | None = None, title: str | None = None,
            editor: User | None = None) -> Content:
    return content_service.create_content(
        in_folder or folder(), title or f"Page {next(_counter)}", "<p>Hello</p>", editor
    )


def user(name: str | None = None, **fields) -> User:
    return User.objects.create_user(name or f"user{next(_counter)}", password="x-password-1",
                                    **fields)
