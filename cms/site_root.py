"""The site root folder on disk: its standard subfolders and a starter template page."""

from __future__ import annotations

import os
import stat
from pathlib import Path

RESOURCE_FOLDERS = ("assets", "privateassets", "uploadedimages", "uploadedfiles")
SKELETON_FOLDERS = ("workarea", *RESOURCE_FOLDERS, "bin")

STARTER_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ content.title }}</title></head>
<body>
  <h1>{{ content.title }}</h1>
  <div class="content">{{ content.html|safe }}</div>
</body>
</html>
"""


def create_site_root(root: Path) -> None:
    """Create the skeleton; existing files are left alone."""
    for name in SKELETON_FOLDERS:
        (root / name).mkdir(parents=True, exist_ok=True)
    starter = root / "templates" / "page.html"
    if not starter.exists():
        starter.parent.mkdir(parents=True, exist_ok=True)
        starter.write_text(STARTER_TEMPLATE, encoding="utf-8")


def resolve_inside(root: Path, relative: str) -> Path:
    """`root/relative`, refusing absolute paths, `..` and links that lead out of root."""
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise ValueError(f"Path {relative!r} is not inside the site root.")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ValueError(f"Path {relative!r} leads out of the site root.")
    return resolved


class NotServed(Exception):
    """A site file the public web views must not serve (the visitor sees only a 404)."""


def open_served_file(root: Path, relative: str, home: Path | None = None) -> int:
    """An open read-only descriptor of the regular file `root/relative`, for the web views.

    Every component is opened in turn below `root` with O_NOFOLLOW, so no symbolic link is
    followed at any depth (a link in the site root could lead to /etc, to the home's keys and
    secret key, or to privateassets under another name), and no component is looked up twice
    (a link swapped in between a check and the open is still refused). Refused with NotServed:
    an empty, `.` or `..` part, a NUL, a link anywhere below the root, a folder or special
    file, anything in `privateassets`, and anything inside the instance home when the site
    root holds the home (the home's own `siteroot` never does). The caller closes the fd."""
    parts = relative.split("/")
    if "\x00" in relative or any(part in ("", ".", "..") for part in parts):
        raise NotServed(relative)
    if parts[0].lower() == "privateassets":
        raise NotServed(relative)
    real_root = Path(os.path.realpath(root))
    if home is not None:
        real_home = Path(os.path.realpath(home))
        if real_home.is_relative_to(real_root) and real_root.joinpath(*parts).is_relative_to(
                real_home):
            raise NotServed(relative)
    try:
        fd = os.open(real_root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise NotServed(relative) from error
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError as error:  # ELOOP (a link), ENOTDIR, ENOENT, EACCES...
        raise NotServed(relative) from error
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise NotServed(relative)
    return file_fd
