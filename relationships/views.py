"""Synchronization screens of the relationships: the wizard, the configurations' actions,
server information and the run progress."""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from certificates.models import TrustedPeer
from cms import roles
from cms.access import sync_admin_required
from cms.sites import list_sites
from esync_site.refusal import Refusal
from relationships import pairing, peer_grants
from relationships.forms import ConnectForm, NarrowForm
from relationships.initial_sync import force_prerequisites_missing, start_initial_sync
from relationships.lifecycle import delete_relationship
from relationships.models import PeerRelationship, Relationship
from relationships.server_identity import describe_databases, describe_instance
from syncengine.models import SyncRun
from syncengine.peer_errors import PeerError
from syncengine.runs import progress_of

WIZARD = "esync_relationship_wizard"


@sync_admin_required
def server_info(request):
    return render(request, "relationships/server_info.html", {"info": describe_instance()})


# -- Create Synchronization Server Relationship -----------------------------------------------

@sync_admin_required
def wizard_connect(request):
    sites = [s.name for s in list_sites()]
    form = ConnectForm(request.POST or None, sites=sites)
    error = None
    if request.method == "POST" and form.is_valid():
        address = f"{form.cleaned_data['remote_server']}:{form.cleaned_data['port']}"
        try:
            report = pairing.connect(address, form.cleaned_data["certificate"])
        except (PeerError, ValueError) as failure:
            error = str(failure)
        else:
            request.session[WIZARD] = {
                "address": address, "peer_id": form.cleaned_data["certificate"].id,
                "local_site": form.cleaned_data["site"] or "default",
                "remote_name": report.peer_name, "databases": report.databases,
                "sites": [s["name"] for s in report.sites],
            }
            return redirect("sync:relationship_database")
    return render(request, "relationships/wizard_connect.html", {
        "form": form, "error": error, "no_peers": not TrustedPeer.objects.exists(),
    })


def _wizard_state(request) -> dict | None:
    return request.session.get(WIZARD)


@sync_admin_required
def wizard_database(request):
    state = _wizard_state(request)
    if state is None:
        return redirect("sync:relationship_new")
    if request.method == "POST":
        names = [d["name"] for d in state["databases"]]
        database = request.POST.get("database")
        site = request.POST.get("remote_site") or state["sites"][0]
        if database in names and site in state["sites"]:
            state.update(database=database, remote_site=site, direction="upload")
            request.session[WIZARD] = state
            return redirect("sync:relationship_direction")
        messages.error(request, "Choose one of the remote server's databases.")
    return render(request, "relationships/wizard_database.html", {"state": state})


@sync_admin_required
def wizard_direction(request):
    state = _wizard_state(request)
    if state is None or "database" not in state:
        return redirect("sync:relationship_new")
    if request.method == "POST" and request.POST.get("action") == "switch":
        state["direction"] = "download" if state["direction"] == "upload" else "upload"
        request.session[WIZARD] = state
    elif request.method == "POST" and request.POST.get("action") == "create":
        try:
            relationship = pairing.create_relationship(
                state["address"], get_object_or_404(TrustedPeer, pk=state["peer_id"]),
                state["direction"], state["database"], state["remote_site"],
                state["local_site"])
        except (PeerError, Refusal, ValueError) as failure:
            messages.error(request, str(failure))
        else:
            del request.session[WIZARD]
            messages.success(request, f"Relationship with {relationship.remote_name} created. "
                                      "Start Initial Sync to copy the site.")
            return redirect("sync:configurations")
    from django.conf import settings

    return render(request, "relationships/wizard_direction.html", {
        "state": state, "local_name": settings.ESYNC.name,
        "local_database": describe_databases()[0],
    })


# -- actions on a relationship ----------------------------------------------------------------

@sync_admin_required
@require_POST
def initial_sync(request, relationship_id: int):
    relationship = get_object_or_404(Relationship, pk=relationship_id)
    force = request.POST.get("force") == "1"
    try:
        run = start_initial_sync(relationship, request.user, force=force)
    except Refusal as refusal:
        messages.error(request, str(refusal))
        return redirect("sync:configurations")
    return redirect("sync:run", run_id=run.id)


@sync_admin_required
def delete(request, relationship_id: int):
    relationship = get_object_or_404(Relationship, pk=relationship_id)
    if request.method != "POST":
        return render(request, "relationships/confirm_delete.html",
                      {"relationship": relationship})
    delete_relationship(relationship)
    messages.success(request, f"The relationship with {relationship.remote_name} and its "
                              "profiles were deleted; no data was touched.")
    return redirect("sync:configurations")


@sync_admin_required
@require_POST
def narrow_peer_relationship(request, relationship_id: int):
    """The narrowing form of "Profiles of PEER that write here": what a peer's relationship
    (a PeerRelationship, by its id here) may write here at most. Ticking nothing is refused;
    "Allow nothing" (which asks first) stops every write."""
    grant = get_object_or_404(PeerRelationship.objects.active().select_related("peer"),
                              pk=relationship_id)
    form = NarrowForm(request.POST)
    back = f"{reverse('sync:configurations')}#peer-relationship-{grant.id}"
    if not form.is_valid():
        messages.error(request, "Nothing changed: tick some of database, workarea, templates "
                                "and bin.")
        return redirect(back)
    nothing, items = form.cleaned_data["nothing"], form.cleaned_data["items"]
    if not items and not nothing:
        messages.error(request, f"Nothing changed: with no item ticked {grant.peer.name} could "
                                "write nothing here. To stop every write, use Allow nothing "
                                "(it asks first).")
        return redirect(back)
    privileged = not nothing and form.cleaned_data["accept_privileged"]
    # Held privileged changes are an Administrator's to accept: a Synchronization Admin may
    # turn accepting them off, not on (or they could make themselves an Administrator here).
    if privileged and not grant.accept_privileged_changes and \
            not roles.is_administrator(request.user):
        messages.error(request, "Nothing changed: only an Administrator can let a peer's "
                                "privileged-account changes apply here.")
        return redirect(back)
    peer_grants.narrow(grant, [] if nothing else items, privileged)
    messages.success(request, f"Saved. {peer_grants.may_write_in_words(grant)}")
    return redirect(back)


def force_available(relationship: Relationship) -> bool:
    return not force_prerequisites_missing(relationship)


# -- run progress -----------------------------------------------------------------------------

@sync_admin_required
def run_progress(request, run_id: int):
    run = get_object_or_404(SyncRun.objects.select_related("relationship"), pk=run_id)
    return render(request, "relationships/run_progress.html", {
        "run": run, "state": progress_of(run),
        "poll_url": reverse("sync:run_state", args=[run.id]),
    })


@sync_admin_required
def run_state(request, run_id: int):
    return JsonResponse(progress_of(get_object_or_404(SyncRun, pk=run_id)))
