"""The content tree: creating folders and reading the tree for the browser."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from cms.models import Folder


class FolderNameRefused(Exception):
    """The name is empty, malformed or already used among the siblings."""


@dataclass
class FolderNode:
    folder: Folder
    children: list[FolderNode] = field(default_factory=list)


def create_folder(parent: Folder | None, name: str, description: str = "") -> Folder:
    name = name.strip()
    if not name:
        raise FolderNameRefused("A folder needs a name.")
    if "/" in name or "\\" in name:
        raise FolderNameRefused("A folder name cannot contain / or \\.")
    siblings = Folder.objects.filter(parent=parent)
    if siblings.filter(name=name).exists():
        where = parent.path if parent else "the top level"
        raise FolderNameRefused(f"A folder named {name!r} already exists in {where}.")
    try:
        with transaction.atomic():
            return Folder.objects.create(parent=parent, name=name, description=description)
    except IntegrityError as error:  # created meanwhile by someone else
        raise FolderNameRefused(f"A folder named {name!r} already exists there.") from error


def folder_tree() -> list[FolderNode]:
    """All folders as a tree, read in one query."""
    nodes = {f.id: FolderNode(f) for f in Folder.objects.order_by("name")}
    roots: list[FolderNode] = []
    for node in nodes.values():
        parent_id = node.folder.parent_id
        (nodes[parent_id].children if parent_id in nodes else roots).append(node)
    return roots
