"""Workarea content screens: the content browser, content view/edit/history, the library."""

from __future__ import annotations

import mimetypes
import os

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import http_date, url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.static import was_modified_since

from cms import content as content_service
from cms import roles
from cms.access import workarea_required
from cms.folders import FolderNameRefused, create_folder, folder_tree
from cms.forms import ContentForm, FolderForm, LibraryUploadForm, QuicklinkForm
from cms.library import UploadRefused, add_quicklink, add_to_library, href_of
from cms.models import Content, Folder, LibraryItem
from cms.site_root import RESOURCE_FOLDERS, NotServed, open_served_file
from esync_site.content_security import serves_site_content


def _folder_from(request) -> Folder | None:
    folder_id = request.GET.get("folder") or request.POST.get("folder")
    if not folder_id:
        return None
    try:
        return Folder.objects.get(pk=int(folder_id))
    except (ValueError, Folder.DoesNotExist) as error:
        raise Http404("No such folder") from error


@workarea_required
def browser(request):
    folder = _folder_from(request)
    if folder is None:
        folder = Folder.objects.filter(parent=None).order_by("name").first()
    contents = (
        folder.contents.select_related("last_editor").order_by("title") if folder else []
    )
    return render(request, "cms/browser.html", {
        "tree": folder_tree(), "folder": folder, "contents": contents,
    })


@workarea_required
def folder_new(request):
    parent = _folder_from(request)
    form = FolderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            folder = create_folder(parent, form.cleaned_data["name"],
                                   form.cleaned_data["description"])
        except FolderNameRefused as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"Folder {folder.path} created.")
            return redirect(f"/workarea/?folder={folder.id}")
    return render(request, "cms/folder_form.html", {"form": form, "parent": parent})


@workarea_required
def content_view(request, content_id: int):
    content = get_object_or_404(Content.objects.select_related("folder", "last_editor"),
                                pk=content_id)
    return render(request, "cms/content_view.html", {
        "content": content, "can_approve": roles.can_approve(request.user),
    })


@workarea_required
def content_new(request):
    folder = _folder_from(request)
    if folder is None:
        messages.error(request, "Choose a folder first, then add content to it.")
        return redirect("cms:browser")
    form = ContentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        content = content_service.create_content(
            folder, form.cleaned_data["title"], form.cleaned_data["html"], request.user,
            kind=form.cleaned_data["kind"],
        )
        messages.success(request, f"Content “{content.title}” saved (id {content.id}).")
        return redirect("cms:content", content_id=content.id)
    return render(request, "cms/content_form.html", {
        "form": form, "folder": folder, "images": _library_images(),
    })


@workarea_required
def content_edit(request, content_id: int):
    content = get_object_or_404(Content, pk=content_id)
    form = ContentForm(request.POST or None, initial={
        "title": content.title, "html": content.html, "kind": content.kind,
    })
    if request.method == "POST" and form.is_valid():
        content_service.save_content(
            content, form.cleaned_data["title"], form.cleaned_data["html"], request.user
        )
        messages.success(request, "Saved as a new version.")
        return redirect("cms:content", content_id=content.id)
    return render(request, "cms/content_form.html", {
        "form": form, "folder": content.folder, "content": content, "images": _library_images(),
    })


def _library_images():
    """The images the editor may insert: those whose path is a site-root path."""
    images = LibraryItem.objects.filter(kind=LibraryItem.Kind.IMAGE).order_by("-uploaded_at")
    return [image for image in images[:50] if href_of(image)]


@require_POST
@workarea_required
def content_submit(request, content_id: int):
    return _status_action(request, content_id, content_service.submit_content,
                          "Submitted for approval.")


@require_POST
@workarea_required
def content_approve(request, content_id: int):
    return _status_action(request, content_id, content_service.approve_content, "Approved.")


def _status_action(request, content_id, action, done_message):
    content = get_object_or_404(Content, pk=content_id)
    try:
        action(content, request.user)
    except content_service.ContentActionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done_message)
    return redirect("cms:content", content_id=content.id)


@workarea_required
def content_history(request, content_id: int):
    content = get_object_or_404(Content, pk=content_id)
    versions = content.history.select_related("editor")
    selected = None
    if "version" in request.GET:
        selected = get_object_or_404(versions, version=request.GET["version"])
    return render(request, "cms/content_history.html", {
        "content": content, "versions": versions, "selected": selected,
    })


@workarea_required
def library(request):
    adding_link = request.method == "POST" and "quicklink-link" in request.POST
    form = LibraryUploadForm(None if adding_link else (request.POST or None),
                             request.FILES or None)
    link_form = QuicklinkForm(request.POST if adding_link else None, prefix="quicklink")
    if adding_link and link_form.is_valid():
        item = add_quicklink(link_form.cleaned_data["title"], link_form.cleaned_data["link"],
                             request.user)
        messages.success(request, f"Quicklink “{item.title}” added to the library.")
        return redirect("cms:library")
    if request.method == "POST" and not adding_link and form.is_valid():
        try:
            item = add_to_library(form.cleaned_data["file"], form.cleaned_data["title"],
                                  request.user)
        except UploadRefused as error:
            form.add_error("file", str(error))
        else:
            messages.success(request, f"“{item.title}” added to the library as {item.url}.")
            return redirect(_local_next(request) or "cms:library")
    items = [(item, href_of(item)) for item in LibraryItem.objects.order_by("-uploaded_at")]
    return render(request, "cms/library.html", {"form": form, "link_form": link_form,
                                                "items": items},
                  status=400 if request.method == "POST" else 200)


def _local_next(request) -> str | None:
    """The `next` a form posted, when it is a page of this server (never another host)."""
    target = request.POST.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return None


@serves_site_content
def site_file(request, folder: str, path: str):
    """Public files of the site root (library images and files, assets)."""
    if folder.lower() not in RESOURCE_FOLDERS or folder.lower() == "privateassets":
        raise Http404()
    return _served(request, f"{folder.lower()}/{path}")


@serves_site_content
def site_root_file(request, path: str):
    """The site's own files from the site root (stylesheets, scripts, images of the templates):
    what a Templates profile moves, served as the web server of the site would."""
    from syncengine.file_rules import item_of

    if item_of(path) != "templates":
        raise Http404()
    return _served(request, path)


def _served(request, relative: str) -> HttpResponse:
    """The file at `relative` below the site root, never through a link (see
    open_served_file); a refused or missing file is a plain 404 that names nothing."""
    try:
        fd = open_served_file(settings.SITE_ROOT, relative, home=settings.ESYNC_HOME)
    except NotServed:
        raise Http404() from None
    status = os.fstat(fd)
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), status.st_mtime):
        os.close(fd)
        return HttpResponseNotModified()
    content_type, encoding = mimetypes.guess_type(relative)
    response = FileResponse(os.fdopen(fd, "rb"),
                            content_type=content_type or "application/octet-stream")
    response.headers["Last-Modified"] = http_date(status.st_mtime)
    if encoding:
        response.headers["Content-Encoding"] = encoding
    return response
