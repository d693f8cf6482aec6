"""Settings > Configuration > Synchronization: View All Synchronization Configurations, and
adding, deleting and running a relationship's profiles."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cms.access import sync_admin_required
from esync_site.refusal import Refusal
from profiles.configurations_screen import (
    configurations_screen,
    profile_states,
    relationship_states,
)
from profiles.forms import FIELD_OF, ProfileForm
from profiles.models import Profile
from profiles.services import FIELDS, ProfileInvalid, delete_profile, fields_of, save_profile
from relationships.models import Relationship
from syncengine.models import SyncRun
from syncengine.profile_sync import start_profile_sync


@sync_admin_required
def configurations(request: HttpRequest) -> HttpResponse:
    screen = configurations_screen()
    return render(request, "profiles/configurations.html", {
        **screen, "rows_url": reverse("sync:configurations_state")})


@sync_admin_required
def configurations_state(request: HttpRequest) -> JsonResponse:
    """Each profile row's and relationship's run state, for the screen to update in place."""
    return JsonResponse({"profiles": profile_states(), "relationships": relationship_states()})


@sync_admin_required
def add(request: HttpRequest, relationship_id: int) -> HttpResponse:
    relationship = get_object_or_404(Relationship, pk=relationship_id)
    return _profile_form(request, relationship, None)


@sync_admin_required
def edit(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(Profile.objects.select_related("relationship"), pk=profile_id)
    return _profile_form(request, profile.relationship, profile)


def _profile_form(request: HttpRequest, relationship: Relationship,
                  profile: Profile | None) -> HttpResponse:
    initial = fields_of(profile) if profile else {}
    form = ProfileForm(request.POST or None, relationship=relationship, profile=profile,
                       initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save_profile(relationship, {name: form.cleaned_data[name]
                                                for name in FIELDS}, profile)
        except ProfileInvalid as invalid:  # e.g. the same name or minute taken meanwhile
            for field, message in invalid.errors.items():
                form.add_error(FIELD_OF.get(field, field), message)
        else:
            messages.success(request, f"Profile {saved.name!r} {'saved' if profile else 'added'}"
                                      f"; schedule: {saved.schedule_in_words}.")
            return redirect("sync:configurations")
    return render(request, "profiles/profile_form.html",
                  {"form": form, "relationship": relationship, "profile": profile})


@sync_admin_required
def delete(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(Profile.objects.select_related("relationship"), pk=profile_id)
    if request.method != "POST":
        return render(request, "profiles/confirm_delete.html", {"profile": profile})
    delete_profile(profile)
    messages.success(request, f"The profile {profile.name!r} and its schedule were deleted; "
                              "its run logs stay.")
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
    from syncengine.file_transfer import shown_name

    folders: dict[str, list[dict]] = {}
    for path in paths:
        folder, _, name = path.rpartition("/")
        # A name that is not UTF-8 is shown with \xNN for its bytes; it cannot be ticked (a
        # form's fields are text), and the profile's own runs carry it.
        utf8 = shown_name(path) == path
        folders.setdefault(folder, []).append({"path": path if utf8 else "",
                                               "name": shown_name(name)})
    return [{"folder": shown_name(folder) or "(site root)",
             "depth": folder.count("/") + bool(folder),
             "files": files} for folder, files in sorted(folders.items())]


@sync_admin_required
@require_POST
def sync_now(request: HttpRequest, profile_id: int) -> HttpResponse:
    """Sync (run now); while this profile's run is going, the button reopens its progress."""
    profile = get_object_or_404(Profile.objects.select_related("relationship"), pk=profile_id)
    active = profile.runs.filter(status__in=SyncRun.ACTIVE).order_by("id").first()
    if active is not None:
        return redirect("sync:run", run_id=active.id)
    try:
        run = start_profile_sync(profile, request.user)
    except Refusal as refusal:
        messages.error(request, str(refusal))
        return redirect("sync:configurations")
    return redirect("sync:run", run_id=run.id)
