"""Settings > Configuration > Synchronization: View All Synchronization Configurations, and
adding, deleting and running a relationship's profiles."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cms.access import sync_admin_required
from esync_site.refusal import Refusal
from profiles.forms import ProfileForm
from profiles.models import Profile
from profiles.services import add_profile
from relationships.models import Relationship
from relationships.views import force_available
from syncengine.collision_review import has_unreviewed
from syncengine.models import SyncRun
from syncengine.profile_sync import start_profile_sync
from syncengine.run_logs import last_runs_by_profile


@sync_admin_required
def configurations(request: HttpRequest) -> HttpResponse:
    relationships = list(Relationship.objects.select_related("certificate")
                         .prefetch_related("profiles"))
    last_runs = {}
    for run in SyncRun.objects.filter(relationship__in=relationships).order_by("id"):
        last_runs[run.relationship_id] = run
    profile_runs = last_runs_by_profile(p for r in relationships for p in r.profiles.all())
    blocks = [{"relationship": r, "last_run": last_runs.get(r.id),
               "force_available": force_available(r),
               "profiles": [{"profile": p, "last_run": profile_runs.get(p.id)}
                            for p in r.profiles.all()]}
              for r in relationships]
    return render(request, "profiles/configurations.html", {
        "blocks": blocks, "unreviewed_collisions": has_unreviewed()})


@sync_admin_required
def add(request: HttpRequest, relationship_id: int) -> HttpResponse:
    relationship = get_object_or_404(Relationship, pk=relationship_id)
    form = ProfileForm(request.POST or None, relationship=relationship)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            profile = add_profile(relationship, data["name"], data["items"], data["direction"],
                                  data["policy"], data["filter_mode"], data["filter_extensions"])
        except Refusal as refusal:  # e.g. the same name added meanwhile
            messages.error(request, str(refusal))
        else:
            messages.success(request, f"Profile {profile.name!r} added.")
            return redirect("sync:configurations")
    return render(request, "profiles/profile_form.html",
                  {"form": form, "relationship": relationship})


@sync_admin_required
def delete(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(Profile.objects.select_related("relationship"), pk=profile_id)
    if request.method != "POST":
        return render(request, "profiles/confirm_delete.html", {"profile": profile})
    profile.delete()
    messages.success(request, f"The profile {profile.name!r} was deleted; its run logs stay.")
    return redirect("sync:configurations")


@sync_admin_required
def synchronize_files(request: HttpRequest, profile_id: int) -> HttpResponse:
    """The manual's "Synchronize files": the site root's files as a tree with check boxes;
    Sync now sends the ticked ones (local newer wins). Not schedulable."""
    from syncengine.file_sync import file_items, site_tree

    profile = get_object_or_404(Profile.objects.select_related("relationship"), pk=profile_id)
    if request.method == "POST":
        try:
            run = start_profile_sync(profile, request.user,
                                     files=request.POST.getlist("path"))
        except Refusal as refusal:
            messages.error(request, str(refusal))
        else:
            return redirect("sync:run", run_id=run.id)
    paths = site_tree(profile) if file_items(profile) else []
    return render(request, "profiles/synchronize_files.html", {
        "profile": profile, "folders": folder_tree(paths),
        "ticked": set(request.POST.getlist("path"))})


def folder_tree(paths: list[str]) -> list[dict]:
    """Sorted paths grouped by folder: [{folder, depth, files: [{path, name}]}]."""
    folders: dict[str, list[dict]] = {}
    for path in paths:
        folder, _, name = path.rpartition("/")
        folders.setdefault(folder, []).append({"path": path, "name": name})
    return [{"folder": folder or "(site root)", "depth": folder.count("/") + bool(folder),
             "files": files} for folder, files in sorted(folders.items())]


@sync_admin_required
@require_POST
def sync_now(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(Profile.objects.select_related("relationship"), pk=profile_id)
    try:
        run = start_profile_sync(profile, request.user)
    except Refusal as refusal:
        messages.error(request, str(refusal))
        return redirect("sync:configurations")
    return redirect("sync:run", run_id=run.id)
