"""Held changes: privileged-account changes from a peer, for an Administrator to decide."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from cms.access import administrator_required
from syncengine import privileged_changes
from syncengine.privileged_changes import HeldChangeRefused


@administrator_required
def held(request: HttpRequest) -> HttpResponse:
    return render(request, "syncengine/held.html", {"held": privileged_changes.pending()})


@administrator_required
def decide(request: HttpRequest, held_id: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"], "Accept or drop a held change with its "
                                                "button on the Held changes screen.")
    decision = request.POST.get("decision", "")
    if decision not in ("accept", "drop"):
        messages.error(request, "Choose Accept or Drop.")
        return redirect("sync:held")
    try:
        said = privileged_changes.decide_and_say(held_id, decision == "accept",
                                                 request.user.username)
    except HeldChangeRefused as refusal:
        messages.error(request, f"{str(refusal)[:1].upper()}{str(refusal)[1:]}.")
    else:
        messages.success(request, said)
    return redirect("sync:held")
