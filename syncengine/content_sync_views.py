"""The editors' Synchronize dialog: one approved content item, or a folder's direct items,
to a chosen relationship now (the manual's "Using Content and Folder Level Sync")."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from cms.access import sync_admin_required
from esync_site.refusal import Refusal
from syncengine.content_sync import eligible_relationships, start_content_sync


def _refuse_unless_enabled() -> None:
    if not settings.ESYNC.esync_enabled:
        raise PermissionDenied("Sync is not enabled on this instance.")


@sync_admin_required
def synchronize_content(request: HttpRequest, content_id: int) -> HttpResponse:
    from cms.models import Content

    _refuse_unless_enabled()
    content = get_object_or_404(Content.objects.select_related("folder"), pk=content_id)
    return _dialog(request, {"content": content}, content_id=content.id)


@sync_admin_required
def synchronize_folder(request: HttpRequest, folder_id: int) -> HttpResponse:
    from cms.models import Content, Folder

    _refuse_unless_enabled()
    folder = get_object_or_404(Folder, pk=folder_id)
    approved = folder.contents.filter(status=Content.Status.APPROVED).order_by("title")
    return _dialog(request, {"folder": folder, "approved": approved}, folder_id=folder.id)


def _dialog(request: HttpRequest, context: dict, **target) -> HttpResponse:
    relationships = eligible_relationships()
    if request.method == "POST":
        chosen = next((r for r in relationships
                       if str(r.id) == request.POST.get("relationship")), None)
        if chosen is None:
            messages.error(request, "Choose the server to synchronize with.")
        else:
            try:
                run = start_content_sync(chosen, request.user, **target)
            except Refusal as refusal:
                messages.error(request, str(refusal))
            else:
                return redirect("sync:run", run_id=run.id)
    return render(request, "syncengine/synchronize_content.html",
                  {**context, "relationships": relationships})
