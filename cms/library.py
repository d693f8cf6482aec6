"""The library: uploaded images and files, stored under the site root where file sync finds them."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from cms.models import Folder, LibraryItem, User

MAX_UPLOAD_BYTES = 20 * 1024 * 1024

# Extension -> leading bytes that a real file of that kind starts with. SVG is left out: it
# can carry script, and library images are shown on the public site.
IMAGE_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".webp": (b"RIFF",),
}
FILE_EXTENSIONS = {".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".zip", ".csv"}


class UploadRefused(Exception):
    """The uploaded file cannot go into the library; the message says why."""


def safe_file_name(name: str) -> str:
    stem, ext = os.path.splitext(os.path.basename(name.replace("\\", "/")))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "file"
    return f"{stem[:80]}{ext.lower()}"


def _unused_path(folder: Path, name: str) -> Path:
    stem, ext = os.path.splitext(name)
    candidate, n = folder / name, 1
    while candidate.exists():
        candidate, n = folder / f"{stem}-{n}{ext}", n + 1
    return candidate


def _land(upload: UploadedFile, target: Path) -> None:
    """Write to a temporary file beside the target, fsync, rename: never a half file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def add_to_library(
    upload: UploadedFile, title: str, user: User | None, folder: Folder | None = None
) -> LibraryItem:
    name = safe_file_name(upload.name or "file")
    ext = os.path.splitext(name)[1]
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise UploadRefused(f"{upload.name} is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
    if ext in IMAGE_SIGNATURES:
        head = upload.read(16)
        upload.seek(0)
        if not head.startswith(IMAGE_SIGNATURES[ext]):
            raise UploadRefused(f"{upload.name} is not a {ext[1:].upper()} image.")
        kind, subfolder = LibraryItem.Kind.IMAGE, "uploadedimages"
    elif ext in FILE_EXTENSIONS:
        kind, subfolder = LibraryItem.Kind.FILE, "uploadedfiles"
    else:
        allowed = ", ".join(sorted([*IMAGE_SIGNATURES, *FILE_EXTENSIONS]))
        raise UploadRefused(f"{upload.name}: files of this type are not accepted ({allowed}).")
    target = _unused_path(Path(settings.SITE_ROOT) / subfolder, name)
    _land(upload, target)
    return LibraryItem.objects.create(
        kind=kind,
        title=title.strip() or name,
        path=f"{subfolder}/{target.name}",
        folder=folder,
        uploaded_by=user,
    )


# -- paths a library item may hold ------------------------------------------------------------
# An image or file: a path below the site root. A quicklink: a link relative to this site
# (`/content/12`, `news/`) or an http(s) URL. Anything else (`javascript:`, `data:`, `//host`,
# a control character a browser would drop before reading the scheme) is refused on save and
# shown as plain text, never as a link, if a stored row holds it anyway.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")  # and the backslash, which browsers read as "/"


class LinkRefused(ValueError):
    """A library path or quicklink that is neither relative nor http(s); the message says why."""


def check_quicklink(link: str) -> str:
    """The quicklink as given, or LinkRefused with a sentence."""
    if not link.strip():
        raise LinkRefused("A quicklink needs a link: a path on this site such as /content/12, "
                          "or an address starting with http:// or https://.")
    if _CONTROL.search(link) or link != link.strip():
        raise LinkRefused("A quicklink may not contain control characters or backslashes, "
                          "nor start or end with a space.")
    if _SCHEME.match(link):
        parts = urlsplit(link)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            scheme = link.split(":", 1)[0]
            raise LinkRefused(f"A quicklink is a path on this site or an address starting "
                              f"with http:// or https://; “{scheme[:20]}:” links are refused.")
    elif link.startswith("//"):
        raise LinkRefused("A quicklink to another server must start with http:// or https://.")
    return link


def check_library_path(path: str) -> str:
    """An image's or file's site-root path as given, or LinkRefused with a sentence."""
    if (not path or _CONTROL.search(path) or path != path.strip() or _SCHEME.match(path)
            or any(part in ("", ".", "..") for part in path.split("/"))):
        raise LinkRefused(f"A library file's path is a relative path below the site root, "
                          f"such as uploadedimages/logo.png; {path[:80]!r} is not.")
    return path


def check_library_item(kind: str, path: str) -> str:
    """The path a library item of this kind may hold, or LinkRefused with a sentence."""
    if kind == LibraryItem.Kind.QUICKLINK:
        return check_quicklink(path)
    return check_library_path(path)


def href_of(item: LibraryItem) -> str | None:
    """What the library screen may link to for this item; None: show its path as text."""
    try:
        check_library_item(item.kind, item.path)
    except LinkRefused:
        return None
    return item.url


def add_quicklink(title: str, link: str, user: User | None,
                  folder: Folder | None = None) -> LibraryItem:
    """A new quicklink in the library; LinkRefused when the link is not relative or http(s)."""
    check_quicklink(link)
    return LibraryItem.objects.create(kind=LibraryItem.Kind.QUICKLINK,
                                      title=title.strip() or link, path=link, folder=folder,
                                      uploaded_by=user)
