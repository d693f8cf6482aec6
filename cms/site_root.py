"""The site root folder on disk: its standard subfolders and a starter template page."""

from __future__ import annotations

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
