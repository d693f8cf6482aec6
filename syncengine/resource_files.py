"""The Database/Resources folders (assets, privateassets, uploadedimages, uploadedfiles) as one
tar stream: written by the source, staged by the destination, then put in place in one swap.

Extraction uses tarfile's "data" filter: no absolute paths, no `..`, no links leading out, no
device files. Members outside the four folders are refused.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from cms.site_root import RESOURCE_FOLDERS
from syncengine.file_transfer import incoming_dir

CHUNK = 256 * 1024


class ResourceStreamRejected(Exception):
    """The tar stream holds something that is not a resource file of a site root."""


@contextmanager
def exported_tar() -> Iterator[tuple[BinaryIO, int]]:
    """The four folders of the default site root as a tar in a temporary file: (file, size)."""
    root = Path(settings.SITE_ROOT)
    with tempfile.TemporaryFile(dir=incoming_dir()) as spool:
        with tarfile.open(fileobj=spool, mode="w") as archive:
            for name in RESOURCE_FOLDERS:
                folder = root / name
                if folder.is_dir():
                    archive.add(folder, arcname=name)
        size = spool.tell()
        spool.seek(0)
        yield spool, size


def export_tar_chunks() -> Iterator[bytes]:
    with exported_tar() as (spool, _size):
        while chunk := spool.read(CHUNK):
            yield chunk


def stage(chunks: Iterable[bytes]) -> str:
    """Unpack a resource tar beside the site root; returns the token that installs it."""
    token = uuid.uuid4().hex
    staging = incoming_dir() / token
    archive_path = staging.with_suffix(".tar")
    try:
        with open(archive_path, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        staging.mkdir()
        with tarfile.open(archive_path) as archive:
            for member in archive.getmembers():
                top = Path(member.name).parts[0].lower() if member.name else ""
                if top not in RESOURCE_FOLDERS:
                    raise ResourceStreamRejected(f"{member.name!r} is not a resource file")
            archive.extractall(staging, filter="data")
    except (tarfile.TarError, OSError, ResourceStreamRejected):
        discard(token)
        raise
    finally:
        archive_path.unlink(missing_ok=True)
    return token


def install(token: str) -> int:
    """Swap the staged folders into the site root; returns how many files arrived."""
    staging = incoming_dir() / token
    if not staging.is_dir():
        raise ResourceStreamRejected("no staged resource files for this token")
    root = Path(settings.SITE_ROOT)
    trash = incoming_dir() / f"{token}.old"
    trash.mkdir()
    count = 0
    for name in RESOURCE_FOLDERS:
        incoming = staging / name
        if not incoming.is_dir():
            incoming.mkdir()
        count += sum(1 for p in incoming.rglob("*") if p.is_file())
        current = root / name
        if current.exists():
            current.rename(trash / name)
        incoming.rename(current)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    return count


def discard(token: str) -> None:
    staging = incoming_dir() / token
    shutil.rmtree(staging, ignore_errors=True)
    staging.with_suffix(".tar").unlink(missing_ok=True)
