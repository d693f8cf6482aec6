"""The library: uploaded images and files, stored under the site root where file sync finds them."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

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
