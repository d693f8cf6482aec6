"""Versions: the site files a file sync replaced or deleted, to look at and put back."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from cms.access import sync_admin_required
from esync_site.refusal import Refusal
from syncengine import file_versions

MOST_ROWS = 1000  # a screen, not a dump: the path filter narrows a longer list


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}{'' if text.endswith('.') else '.'}"


@sync_admin_required
def versions(request: HttpRequest) -> HttpResponse:
    path = request.GET.get("path", "")[:500]
    listed: list[file_versions.KeptVersion] = []
    try:
        listed = file_versions.list_versions(path)
    except OSError as error:
        messages.error(request, f"The versions folder could not be read: "
                                f"{error.strerror or error}.")
    return render(request, "syncengine/versions.html",
                  {"versions": listed[:MOST_ROWS], "total": len(listed), "path": path,
                   "most_rows": MOST_ROWS})


@sync_admin_required
def restore(request: HttpRequest) -> HttpResponse:
    """GET: the confirmation page; POST (its button): the restore, then the list again."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    asked = request.POST if request.method == "POST" else request.GET
    stamp, shown = asked.get("stamp", ""), asked.get("path", "")[:5000]
    try:
        version = file_versions.find(stamp, file_versions.typed_path(shown))
        if request.method != "POST":
            return render(request, "syncengine/confirm_version_restore.html",
                          {"version": version})
        said = file_versions.restore(version.stamp, version.path).describe()
    except Refusal as refusal:
        messages.error(request, _sentence(str(refusal)))
    except OSError as error:
        messages.error(request, f"Nothing was restored: {error.strerror or error}.")
    else:
        messages.success(request, f"{said} The next sync carries it to the peer like any "
                                  "change here.")
    return redirect("sync:versions")
