"""Which profile item a site root file belongs to, and whether a profile's filter lets it through.

Exactly the manual's table in "Setting up eSync Profiles", names compared case-insensitively:

- Database/Resources: the `assets`, `privateassets`, `uploadedimages`, `uploadedfiles` folders.
- Workarea Files: `workarea/` except its `ewebeditpro`, `help`, `explorer`, `ewebdiff`,
  `documents`, `foundation`, `resources` and `sync` folders.
- bin (precompiled sites): `bin/`.
- Templates: everything else in the site root, except the `app_webreferences`, `latestchanges`
  and `app_globalresources` folders, a resource-folder name at any depth, and the files
  `assetManagement.config` and `web.config` (server settings; never synced, filter or not).

Global exceptions: `.config`, `.txt` and `.sln` files are not synced unless an Include filter
names their extension. Include = only the listed extensions; Exclude = those as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from cms.site_root import RESOURCE_FOLDERS

ITEMS = ("database", "workarea", "templates", "bin")
WORKAREA_EXCLUDED = frozenset({"ewebeditpro", "help", "explorer", "ewebdiff", "documents",
                               "foundation", "resources", "sync"})
TEMPLATES_EXCLUDED_FOLDERS = frozenset({"workarea", "bin", "app_webreferences", "latestchanges",
                                        "app_globalresources", *RESOURCE_FOLDERS})
NEVER_SYNCED_FILES = frozenset({"assetmanagement.config", "web.config"})
GLOBAL_EXCEPTIONS = frozenset({".config", ".txt", ".sln"})
# esync's own files in a site root: partly written files and the like.
OWN_FILE_PREFIX = ".esync-"

_EXTENSION = re.compile(r"^\*?\.?([A-Za-z0-9_\-]+)$")


class FilterRefused(ValueError):
    pass


def parse_extensions(text: str) -> tuple[str, ...]:
    """`*.doc, .gif, txt` → ('.doc', '.gif', '.txt'); anything else is refused, naming it."""
    extensions = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        match = _EXTENSION.match(entry)
        if not match:
            raise FilterRefused(
                f"{entry!r} is not a file extension: write them like *.doc, .gif, txt")
        extension = "." + match.group(1).lower()
        if extension not in extensions:
            extensions.append(extension)
    if not extensions:
        raise FilterRefused(
            "List the file extensions, separated by commas (like *.doc, .gif, txt).")
    return tuple(extensions)


@dataclass(frozen=True)
class FileFilter:
    mode: str = "none"  # none | include | exclude
    extensions: tuple[str, ...] = ()

    @classmethod
    def of(cls, mode: str, text: str) -> FileFilter:
        if mode in ("", "none"):
            return cls()
        if mode not in ("include", "exclude"):
            raise FilterRefused(f"Unknown filter {mode!r}: none, include or exclude.")
        return cls(mode, parse_extensions(text))

    def admits(self, name: str) -> bool:
        extension = extension_of(name)
        if self.mode == "include":
            return extension in self.extensions
        if extension in GLOBAL_EXCEPTIONS:
            return False
        return not (self.mode == "exclude" and extension in self.extensions)


def extension_of(name: str) -> str:
    """`.css` of `Site.CSS`; none for `.htaccess` or `file.` (as pathlib's suffix)."""
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return ""
    return name[dot:].lower()


def item_of(relative: str) -> str | None:
    """The profile item a site root file belongs to, or None when no item syncs it."""
    folder, _, name = relative.lower().rpartition("/")
    if not name or name.startswith(OWN_FILE_PREFIX):
        return None
    if not folder:
        return None if name in NEVER_SYNCED_FILES else "templates"
    item = _item_of_folder(folder)
    if item == "templates" and name in NEVER_SYNCED_FILES:
        return None
    return item


@lru_cache(maxsize=65536)
def _item_of_folder(folder: str) -> str | None:
    """The item of the files in a (lower-case) folder: decided once per folder."""
    folders = folder.split("/")
    if any(part.startswith(OWN_FILE_PREFIX) for part in folders):
        return None
    top = folders[0]
    if top in RESOURCE_FOLDERS:
        return "database"
    if top == "workarea":
        return None if len(folders) > 1 and folders[1] in WORKAREA_EXCLUDED else "workarea"
    if top == "bin":
        return "bin"
    if top in TEMPLATES_EXCLUDED_FOLDERS:
        return None
    if any(part in RESOURCE_FOLDERS for part in folders):
        return None
    return "templates"


def is_synced(relative: str, items: set[str] | list[str], file_filter: FileFilter) -> bool:
    """True when a profile with these items and this filter moves the file."""
    return item_of(relative) in items and file_filter.admits(relative.rpartition("/")[2])


def folder_item(relative: str) -> str | None:
    """The profile item a folder itself belongs to (made, removed, its mtime kept): the item
    of the files in it, so `workarea` is Workarea's and `workarea/help` nobody's."""
    return _item_of_folder(relative.lower()) if relative else None


def is_synced_folder(relative: str, items: set[str] | list[str],
                     file_filter: FileFilter) -> bool:
    """True when a profile with these items and this filter makes and removes the folder
    itself. An Include filter moves only the files it names (their folders are made as
    they land, and are not removed); no filter or an Exclude filter moves folders too."""
    return file_filter.mode != "include" and folder_item(relative) in items


def top_folders(items: set[str] | list[str]) -> list[str] | None:
    """The top-level folders a scan must walk for these items (None: the whole root)."""
    if "templates" in items:
        return None
    folders: list[str] = []
    if "database" in items:
        folders += RESOURCE_FOLDERS
    if "workarea" in items:
        folders.append("workarea")
    if "bin" in items:
        folders.append("bin")
    return folders
