"""The Security Configurator screen: identities, export/apply, trusted peers, test connection."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from certificates.connection_check import check_connection
from certificates.exchange import CertificateFolderRefused, apply_peer_folder, export_identity
from certificates.identities import ALL_SITES, generate_or_keep, list_identities
from certificates.models import TrustedPeer
from cms.access import administrator_required
from cms.sites import list_sites
from esync_site.refusal import Refusal
from syncengine.peer_errors import PeerError

MAX_APPLY_FILES = 10


def _site_choices() -> list[str]:
    return [ALL_SITES, *(s.name for s in list_sites())]


@administrator_required
def security_configurator(request):
    return render(request, "certificates/security_configurator.html", {
        "identities": list_identities(),
        "peers": TrustedPeer.objects.all(),
        "sites": _site_choices(),
        "test_address": request.session.pop("esync_last_test_address", ""),
    })


@administrator_required
@require_POST
def generate(request):
    scope = request.POST.get("site", ALL_SITES)
    if scope not in _site_choices():
        messages.error(request, f"No site called {scope!r}.")
        return redirect("sync:security")
    discard = request.POST.get("discard_existing") == "on"
    if discard and request.POST.get("confirmed") != "yes":
        return render(request, "certificates/confirm.html", {
            "title": "Discard existing keys?",
            "question": (f"This removes this instance's identities for {scope} and generates "
                         "new ones. Every peer that trusts the old certificates will refuse "
                         "this instance until you export the new ones and apply them there."),
            "action": "sync:security_generate",
            "fields": {"site": scope, "discard_existing": "on", "confirmed": "yes"},
            "button": "Discard and generate",
        })
    _identities, created = generate_or_keep(scope, discard_existing=discard)
    if not created:
        messages.info(request, f"Identities for {scope} already exist; tick “Discard existing "
                               "keys” to replace them.")
    else:
        messages.success(request, f"Generated new identities for {scope}. Export them and "
                                  "apply them on each peer.")
    return redirect("sync:security")


@administrator_required
def export(request):
    """The exported folder, zipped for download: public certificates and manifest only."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            written = export_identity(Path(folder) / "export")
        except Refusal as error:
            messages.error(request, str(error))
            return redirect("sync:security")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in written:
                archive.write(path, path.name)
    from django.conf import settings

    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = (
        f'attachment; filename="{settings.ESYNC.name}-esync-certificates.zip"')
    return response


@administrator_required
@require_POST
def apply(request):
    uploads = request.FILES.getlist("files")
    if not uploads:
        messages.error(request, "Choose the files of the peer's exported folder first.")
        return redirect("sync:security")
    if len(uploads) > MAX_APPLY_FILES:
        messages.error(request, "Too many files: an exported folder holds three.")
        return redirect("sync:security")
    with tempfile.TemporaryDirectory() as folder:
        for upload in uploads:
            name = Path(upload.name).name  # never a path the browser made up
            with open(Path(folder) / name, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        try:
            peer = apply_peer_folder(Path(folder))
        except CertificateFolderRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Trusting {peer.name} ({peer.server_id}) from now on.")
    return redirect("sync:security")


@administrator_required
def remove_peer(request, peer_id: int):
    peer = get_object_or_404(TrustedPeer, pk=peer_id)
    if request.method != "POST":
        return render(request, "certificates/confirm.html", {
            "title": f"Stop trusting {peer.name}?",
            "question": (f"{peer.name} ({peer.server_id}) will be refused by this instance's "
                         "sync service, and this instance will no longer call it. Applying its "
                         "exported folder again restores trust."),
            "action": "sync:security_remove_peer", "action_args": [peer.id],
            "fields": {}, "button": "Remove",
        })
    peer.delete()
    messages.success(request, f"No longer trusting {peer.name}.")
    return redirect("sync:security")


@administrator_required
@require_POST
def test_connection(request):
    address = request.POST.get("address", "").strip()
    request.session["esync_last_test_address"] = address
    try:
        report = check_connection(address)
    except ValueError as error:
        messages.error(request, str(error))
    except PeerError as error:
        messages.error(request, f"Connection failed: {error}")
    else:
        messages.success(request, report.summary)
    return redirect("sync:security")
