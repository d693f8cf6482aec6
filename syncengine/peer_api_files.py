"""The peer API for file sync (served only by the sync service, under /esync/v1/files/).

Every call names the profile items it works for (`items=templates,bin`); a path outside them is
refused. Writes take the run's stamp (the versions folder of replaced and deleted files).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET, require_POST

from syncengine import file_delta, file_state, file_transfer
from syncengine.file_rules import ITEMS, FileFilter, FilterRefused
from syncengine.file_transfer import FileRefused
from syncengine.peer_api import read_request, refusal
from syncengine.stream_chunks import coalesced


class _Refused(Exception):
    def __init__(self, response: JsonResponse) -> None:
        self.response = response


def _items(request) -> list[str]:
    items = [i for i in request.GET.get("items", "").split(",") if i]
    if not items or any(item not in ITEMS for item in items):
        raise _Refused(refusal(400, "bad_request", f"items must be some of {', '.join(ITEMS)}"))
    return items


def _info(request) -> file_state.FileInfo:
    """The size, mtime and digest a file is to land with; a size past this server's limit
    per run is refused before anything is read or written."""
    try:
        info = file_state.FileInfo(int(request.GET["size"]), int(request.GET["mtime_ns"]),
                                   str(request.GET["digest"]))
    except (KeyError, ValueError) as error:
        raise _Refused(refusal(400, "bad_request", "size, mtime_ns and digest are required")
                       ) from error
    limit = _limits()[1]
    if not 0 <= info.size <= limit:
        raise _Refused(refusal(400, "file_refused", f"a file of {info.size} bytes is past this "
                                                    f"server's limit of {limit} bytes per run"))
    return info


def _json_field(request, name: str, kind: type, message: str):
    return _json_body(request, name, kind, message)[name]


def _json_body(request, name: str, kind: type, message: str) -> dict:
    """The request's JSON body, refused with `message` unless its `name` is a `kind`."""
    try:
        body = json.loads(request.body)
        value = body[name]
    except (ValueError, KeyError, TypeError) as error:
        raise _Refused(refusal(400, "bad_request", message)) from error
    if not isinstance(value, kind):
        raise _Refused(refusal(400, "bad_request", message))
    return body


def _limits() -> tuple[int, int]:
    return settings.ESYNC.max_files_per_run, settings.ESYNC.max_bytes_per_run


def answers_refusals(view):
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except _Refused as refused:
            return refused.response
        except (FileRefused, FilterRefused) as error:
            return refusal(400, "file_refused", str(error))
    wrapped.__name__ = view.__name__
    return wrapped


@require_GET
@answers_refusals
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


@require_POST
@answers_refusals
def receive(request):
    """A framed stream of files to land here."""
    received = file_transfer.receive_files(read_request(request), _items(request),
                                           request.GET.get("stamp", ""), _limits())
    return JsonResponse({"landed": received.landed, "refused": received.refused})


@require_POST
@answers_refusals
def send(request):
    """The asked-for files as a framed stream."""
    items = _items(request)
    paths = _json_field(request, "paths", list, "a JSON body with a list of paths is required")
    for path in paths:
        file_transfer.target_of(path, items)
    return StreamingHttpResponse(coalesced(file_transfer.send_files(paths, items)),
                                 content_type="application/octet-stream")


@require_POST
@answers_refusals
def delete(request):
    """Delete files that are still what the asker last saw (each kept in versions first)."""
    items, stamp = _items(request), file_transfer.check_stamp(request.GET.get("stamp", ""))
    files = _json_field(request, "files", dict,
                        "a JSON body {files: {path: digest}} is required")
    for path in files:
        file_transfer.target_of(path, items)
    deleted, refused = [], []
    for path, digest in files.items():
        try:
            if file_transfer.delete(path, items, stamp, str(digest)):
                deleted.append(path)
        except (FileRefused, OSError) as error:
            refused.append({"path": path, "error": str(error)})
    return JsonResponse({"deleted": deleted, "refused": refused})


@require_GET
@answers_refusals
def signature(request):
    """This server's block digests of a file, for a delta from the asker."""
    items = _items(request)
    target = file_transfer.target_of(request.GET.get("path", ""), items)
    if not target.is_file():
        return refusal(404, "not_found", "the file is not here")
    return JsonResponse({"digest": file_state.digest_of(target),
                         **file_delta.Signature.of(target).as_json()})


@require_POST
@answers_refusals
def patch(request):
    """Rebuild a file here from its current version and the asker's changed blocks."""
    items, stamp = _items(request), file_transfer.check_stamp(request.GET.get("stamp", ""))
    relative = request.GET.get("path", "")
    target = file_transfer.target_of(relative, items)
    info = _info(request)
    if not target.is_file() or file_state.digest_of(target) != request.GET.get("replaces"):
        return refusal(409, "changed", f"{relative} changed here during the sync")
    staged = file_delta.apply_delta(target, read_request(request), info)
    return _landed(staged, relative, info, items, stamp, None)


@require_POST
@answers_refusals
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
              "digest": file_state.digest_of(target)}

    def stream():
        yield from file_transfer.frame(header)
        yield from file_delta.delta_frames(target, theirs)

    return StreamingHttpResponse(stream(), content_type="application/octet-stream")


@require_GET
@answers_refusals
def partial(request):
    """How much of a resumable upload this server already holds."""
    relative = file_transfer.check_relative(request.GET.get("path", ""), _items(request))
    held = file_transfer.partial_path(relative, request.GET.get("digest", ""))
    return JsonResponse({"have": held.stat().st_size if held.exists() else 0})


@require_POST
@answers_refusals
def chunk(request):
    items = _items(request)
    relative = request.GET.get("path", "")
    file_transfer.target_of(relative, items)
    try:
        offset = int(request.GET.get("offset", ""))
    except ValueError:
        return refusal(400, "bad_request", "offset must be a number")
    digest = request.GET.get("digest", "")
    if not digest.isalnum():
        return refusal(400, "bad_request", "digest must be given")
    have = file_transfer.append_chunk(relative, digest, offset, read_request(request))
    return JsonResponse({"have": have})


@require_POST
@answers_refusals
def commit(request):
    items, stamp = _items(request), file_transfer.check_stamp(request.GET.get("stamp", ""))
    relative = file_transfer.check_relative(request.GET.get("path", ""), items)
    info = _info(request)
    staged = file_transfer.finish_partial(relative, info)
    return _landed(staged, relative, info, items, stamp, request.GET.get("replaces"))


def _landed(staged, relative: str, info: file_state.FileInfo, items: list[str], stamp: str,
            replaces: str | None) -> JsonResponse:
    file_transfer.land(staged, relative, info, items, stamp, replaces)
    file_state.remember({relative: info})
    return JsonResponse({"landed": [relative]})


@require_GET
@answers_refusals
def content(request):
    """A file's bytes from an offset on (a download that resumes)."""
    items = _items(request)
    target = file_transfer.target_of(request.GET.get("path", ""), items)
    try:
        offset = max(0, int(request.GET.get("offset", "0")))
    except ValueError:
        return refusal(400, "bad_request", "offset must be a number")
    if not target.is_file():
        return refusal(404, "not_found", "the file is not here")
    stat = target.stat()
    response = StreamingHttpResponse(
        file_transfer.file_chunks(target, offset, stat.st_size - offset),
        content_type="application/octet-stream")
    response["X-Esync-Digest"] = file_state.digest_of(target)
    response["X-Esync-Size"] = str(stat.st_size)
    response["X-Esync-Mtime-Ns"] = str(stat.st_mtime_ns)
    return response
