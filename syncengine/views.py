"""Synchronization screens of the engine: preview, logs, collisions and conflicts."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from cms.access import sync_admin_required
from esync_site.refusal import Refusal
from esync_site.whole_numbers import whole_number
from profiles.models import Profile
from relationships.models import Relationship
from syncengine import collision_review, conflicts, run_logs
from syncengine.models import ConflictRecord, SyncRun
from syncengine.peer_errors import PeerError
from syncengine.preview import preview_profile

# -- Synchronization Preview ------------------------------------------------------------------


@sync_admin_required
def preview(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(Profile.objects.select_related("relationship__certificate"),
                                pk=profile_id)
    plan, error = None, None
    try:
        plan = preview_profile(profile)
    except PeerError as failure:
        error = f"Could not ask {profile.relationship.remote_name} for its changes: {failure}"
    except Refusal as refusal:
        error = str(refusal)
    return render(request, "syncengine/preview.html",
                  {"profile": profile, "plan": plan, "error": error})


# -- Synchronization Logs ---------------------------------------------------------------------

@sync_admin_required
def logs(request: HttpRequest) -> HttpResponse:
    relationship, number = None, whole_number(request.GET.get("relationship"))
    if number is not None:
        relationship = get_object_or_404(Relationship, pk=number)
    return render(request, "syncengine/logs.html", {
        "runs": run_logs.list_runs(relationship), "relationship": relationship})


@sync_admin_required
def log_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(SyncRun.objects.select_related("profile", "relationship"),
                            pk=run_id)
    return render(request, "syncengine/log_detail.html",
                  {"run": run, "detail": run_logs.run_detail(run)})


@sync_admin_required
def profile_log(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=profile_id)
    run = run_logs.last_run_of_profile(profile)
    if run is None:
        messages.info(request, f"The profile {profile.name!r} has not run yet.")
        return redirect("sync:configurations")
    return redirect("sync:log", run_id=run.id)


@sync_admin_required
def relationship_log(request: HttpRequest, relationship_id: int) -> HttpResponse:
    relationship = get_object_or_404(Relationship, pk=relationship_id)
    run = run_logs.last_run_of_relationship(relationship)
    if run is None:
        messages.info(request, f"Nothing has run with {relationship.remote_name} yet.")
        return redirect("sync:configurations")
    return redirect("sync:log", run_id=run.id)


# -- Review Synchronization Collisions --------------------------------------------------------

@sync_admin_required
def collisions(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        ids = [i for i in request.POST.getlist("collision") if whole_number(i) is not None]
        try:
            if request.POST.get("email"):
                marked, no_address = collision_review.mark_reviewed_and_email(
                    ids, request.user.username)
            else:
                marked, no_address = collision_review.mark_reviewed(
                    ids, request.user.username), []
        except Refusal as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, f"{marked} marked reviewed"
                             + (" and e-mailed." if request.POST.get("email") else "."))
            if no_address:
                messages.warning(request, "No e-mail address, so not e-mailed: "
                                 + ", ".join(no_address) + ".")
        return redirect("sync:collisions")
    return render(request, "syncengine/collisions.html", {"tabs": collision_review.tabs()})


# -- Conflicts --------------------------------------------------------------------------------

@sync_admin_required
def conflict_list(request: HttpRequest) -> HttpResponse:
    return render(request, "syncengine/conflicts.html",
                  {"records": conflicts.list_conflicts()})


@sync_admin_required
def conflict_restore(request: HttpRequest, conflict_id: int) -> HttpResponse:
    record = get_object_or_404(ConflictRecord, pk=conflict_id)
    if request.method != "POST":
        return render(request, "syncengine/confirm_restore.html",
                      {"record": record, "versions": conflicts.side_by_side(record)})
    try:
        conflicts.restore(record, request.user.username)
    except Refusal as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"The {record.loser_side} version of {record.table_name} "
                                  f"{record.row_key} is back here; the next sync carries it "
                                  "to the peer.")
    return redirect("sync:conflicts")
