"""The peer API for file sync (served only by the sync service, under /esync/v1/files/).

Every call names the profile items it works for (`items=templates,bin`); a path outside them is
refused. Writes take the run's stamp (the versions folder of replaced and deleted files).
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse

from esync_site.whole_numbers import whole_number
from relationships import peer_grants
from syncengine import file_delta, file_state, file_transfer
from syncengine.file_rules import ITEMS, FileFilter
from syncengine.file_sync import CHUNK
from syncengine.file_transfer import FileRefused
from syncengine.peer_api import declared_length, json_body, read_request
from syncengine.peer_endpoint import PeerRequestRefused, refusal
from syncengine.stream_chunks import coalesced

MAX_JSON_BODY = 64 * 1024 * 1024  # a list of paths or of block digests


def _items(request) -> list[str]:
    items = [i for i in request.GET.get("items", "").split(",") if i]
    if not items or any(item not in ITEMS for item in items):
        raise PeerRequestRefused(400, "bad_request", f"items must be some of {', '.join(ITEMS)}")
    return items


def _number(request, name: str, default: str | None = None) -> int:
    """A whole number of the query, from 0 to 2^63-1."""
    number = whole_number(request.GET.get(name, default))
    if number is None:
        raise PeerRequestRefused(400, "bad_request", f"{name} must be a whole number from 0 "
                                 "to 2^63-1")
    return number


def _info(request) -> file_state.FileInfo:
    """The size, mtime and digest a file is to land with; a size past this server's limit
    per run is refused before anything is read or written."""
    size, digest = _number(request, "size"), request.GET.get("digest", "")
    if not digest.isalnum() or len(digest) > 128:
        raise PeerRequestRefused(400, "bad_request", "size, mtime_ns and digest are required")
    info = file_state.FileInfo(size, _number(request, "mtime_ns"), digest)
    limit = _limits()[1]
    if info.size > limit:
        raise PeerRequestRefused(400, "file_refused", f"a file of {info.size} bytes is past "
                                 f"this server's limit of {limit} bytes per run")
    return info


def _writable(request, relative: str, folder: bool = False) -> str:
    """The path, if the relationship's profiles write it here (items, filter, exceptions)."""
    if request.grant is not None and \
            not peer_grants.write_admits(request.grant)(relative, folder):
        raise PeerRequestRefused(403, "not_allowed", f"{relative!r} is not a file a profile "
                                 "of this relationship writes here (its category, its filter "
                                 "or the global exceptions .config, .txt, .sln)")
    return relative


def _json_field(request, name: str, kind: type, message: str):
    return _json_body(request, name, kind, message)[name]


def _json_body(request, name: str, kind: type, message: str) -> dict:
    """The request's JSON body, refused with `message` unless its `name` is a `kind`."""
    body = json_body(request, MAX_JSON_BODY)
    if not isinstance(body, dict) or not isinstance(body.get(name), kind):
        raise PeerRequestRefused(400, "bad_request", message)
    return body


def _limits() -> tuple[int, int]:
    return settings.ESYNC.max_files_per_run, settings.ESYNC.max_bytes_per_run


def manifest(request):
    """The synced files here, or only what changed since the token of an earlier answer."""
    items = _items(request)
    file_filter = FileFilter.of(request.GET.get("filter", "none"),
                                request.GET.get("extensions", ""))
    files, removed, token, complete = file_state.scan_since(
        file_transfer.site_root(), items, file_filter, request.GET.get("since", ""))
    # FileInfo is a tuple: it goes out as a JSON list as it is.
    return JsonResponse({"files": files, "removed": removed, "token": token,
                         "complete": complete})


def receive(request):
    """A framed stream of files to land here."""
    admits = (peer_grants.write_admits(request.grant) if request.grant is not None
              else None)
    received = file_transfer.receive_files(read_request(request), _items(request),
                                           request.GET.get("stamp", ""), _limits(),
                                           admits=admits)
    return JsonResponse({"landed": received.landed, "refused": received.refused})


def send(request):
    """The asked-for files as a framed stream."""
    items = _items(request)
    paths = _json_field(request, "paths", list, "a JSON body with a list of paths is required")
    if not all(isinstance(path, str) and path for path in paths):
        raise PeerRequestRefused(400, "bad_request", "every path must be a non-empty string")
    # A path this server will not send is refused in the stream, alone, with the reason.
    return StreamingHttpResponse(coalesced(file_transfer.send_files(paths, items)),
                                 content_type="application/octet-stream")


def delete(request):
    """Delete files that are still what the asker last saw (each kept in versions first)."""
    items, stamp = _items(request), file_transfer.check_stamp(request.GET.get("stamp", ""))
    files = _json_field(request, "files", dict,
                        "a JSON body {files: {path: digest}} is required")
    if not all(path and isinstance(digest, str) for path, digest in files.items()):
        raise PeerRequestRefused(400, "bad_request", "every path must be named and every "
                                 "digest a string")
    for path, digest in files.items():  # outside what the relationship writes: none deleted
        _writable(request, path, folder=digest == file_state.FOLDER)
    deleted, refused = [], []
    for path, digest in files.items():
        try:
            if file_transfer.delete(path, items, stamp, digest):
                deleted.append(path)
        except (FileRefused, OSError) as error:
            refused.append({"path": path, "error": str(error)})
    return JsonResponse({"deleted": deleted, "refused": refused})


def signature(request):
    """This server's block digests of a file, for a delta from the asker."""
    items = _items(request)
    target = file_transfer.target_of(request.GET.get("path", ""), items)
    if not target.is_file():
        return refusal(404, "not_found", "the file is not here")
    return JsonResponse({"digest": file_state.digest_of(target),
                         **file_delta.Signature.of(target).as_json()})


def patch(request):
    """Rebuild a file here from its current version and the asker's changed blocks."""
    items, stamp = _items(request), file_transfer.check_stamp(request.GET.get("stamp", ""))
    relative = request.GET.get("path", "")
    target = file_transfer.target_of(relative, items)
    _writable(request, relative)
    info = _info(request)
    if not target.is_file() or file_state.digest_of(target) != request.GET.get("replaces"):
        return refusal(409, "changed", f"{relative} changed here during the sync")
    staged = file_delta.apply_delta(target, read_request(request, MAX_JSON_BODY + info.size),
                                    info)
    return _landed(staged, relative, info, items, stamp, None, request.GET.get("mode"))


def delta(request):
    """What of a file here differs from the asker's version, described by its signature."""
    items = _items(request)
    target = file_transfer.target_of(request.GET.get("path", ""), items)
    theirs = file_delta.Signature.from_json(
        _json_body(request, "blocks", list, "a JSON body {blocks: [...]} is required"))
    if not target.is_file():
        return refusal(404, "not_found", "the file is not here")
    stat = target.stat()
    header = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
              "digest": file_state.digest_of(target), "mode": file_transfer.mode_of(stat)}

    def stream():
        yield from file_transfer.frame(header)
        yield from file_delta.delta_frames(target, theirs)

    return StreamingHttpResponse(stream(), content_type="application/octet-stream")


def partial(request):
    """How much of a resumable upload this server already holds."""
    relative = file_transfer.check_relative(request.GET.get("path", ""), _items(request))
    held = file_transfer.partial_path(relative, _digest(request))
    return JsonResponse({"have": held.stat().st_size if held.exists() else 0})


def _digest(request) -> str:
    digest = request.GET.get("digest", "")
    if not digest.isalnum() or len(digest) > 128:
        raise PeerRequestRefused(400, "bad_request", "digest must be given (letters and "
                                 "digits)")
    return digest


def chunk(request):
    """A piece of a resumable upload: at most one chunk's size, inside the run's limit."""
    items = _items(request)
    relative = request.GET.get("path", "")
    file_transfer.target_of(relative, items)
    _writable(request, relative)
    offset, digest = _number(request, "offset"), _digest(request)
    length = declared_length(request)
    if length is None:  # not a number: refused as too large
        length = CHUNK + 1
    if length > CHUNK:
        raise PeerRequestRefused(413, "too_large", f"a chunk may not exceed {CHUNK:,} bytes")
    if offset + length > _limits()[1]:
        raise PeerRequestRefused(400, "file_refused", f"the file would grow past this "
                                 f"server's limit of {_limits()[1]} bytes per run")
    have = file_transfer.append_chunk(relative, digest, offset, read_request(request, CHUNK))
    return JsonResponse({"have": have})


def commit(request):
    items, stamp = _items(request), file_transfer.check_stamp(request.GET.get("stamp", ""))
    relative = _writable(request, file_transfer.check_relative(request.GET.get("path", ""),
                                                               items))
    info = _info(request)
    staged = file_transfer.finish_partial(relative, info)
    return _landed(staged, relative, info, items, stamp, request.GET.get("replaces"),
                   request.GET.get("mode"))


def _landed(staged, relative: str, info: file_state.FileInfo, items: list[str], stamp: str,
            replaces: str | None, mode: str | None) -> JsonResponse:
    file_transfer.land(staged, relative, info, items, stamp, replaces,
                       mode=file_transfer.mode_from(mode))
    file_state.remember({relative: info})
    return JsonResponse({"landed": [relative]})


def content(request):
    """A file's bytes from an offset on (a download that resumes)."""
    items = _items(request)
    target = file_transfer.target_of(request.GET.get("path", ""), items)
    offset = _number(request, "offset", "0")
    if not target.is_file():
        return refusal(404, "not_found", "the file is not here")
    stat = target.stat()
    if offset > stat.st_size:
        raise PeerRequestRefused(416, "bad_offset", f"the file here has {stat.st_size} "
                                 f"bytes; there is nothing at offset {offset}")
    response = StreamingHttpResponse(
        file_transfer.file_chunks(target, offset, stat.st_size - offset),
        content_type="application/octet-stream")
    response["X-Esync-Digest"] = file_state.digest_of(target)
    response["X-Esync-Size"] = str(stat.st_size)
    response["X-Esync-Mtime-Ns"] = str(stat.st_mtime_ns)
    response["X-Esync-Mode"] = str(file_transfer.mode_of(stat))
    return response
