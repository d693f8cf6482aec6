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
from pathlib import PurePosixPath

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
        extension = PurePosixPath(name.lower()).suffix
        if self.mode == "include":
            return extension in self.extensions
        if extension in GLOBAL_EXCEPTIONS:
            return False
        return not (self.mode == "exclude" and extension in self.extensions)


def item_of(relative: str) -> str | None:
    """The profile item a site root file belongs to, or None when no item syncs it."""
    parts = [part.lower() for part in PurePosixPath(relative).parts]
    if not parts or any(part.startswith(OWN_FILE_PREFIX) for part in parts):
        return None
    folders, name = parts[:-1], parts[-1]
    if not folders:
        return None if name in NEVER_SYNCED_FILES else "templates"
    top = folders[0]
    if top in RESOURCE_FOLDERS:
        return "database"
    if top == "workarea":
        return None if len(folders) > 1 and folders[1] in WORKAREA_EXCLUDED else "workarea"
    if top == "bin":
        return "bin"
    if top in TEMPLATES_EXCLUDED_FOLDERS or name in NEVER_SYNCED_FILES:
        return None
    if any(folder in RESOURCE_FOLDERS for folder in folders):
        return None
    return "templates"


def is_synced(relative: str, items: set[str] | list[str], file_filter: FileFilter) -> bool:
    """True when a profile with these items and this filter moves the file."""
    return item_of(relative) in items and file_filter.admits(PurePosixPath(relative).name)


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
