"""Requests that arrive through the sync service: routed to the peer API, attributed to a peer."""

from __future__ import annotations

from django.http import JsonResponse

from certificates.trust import peer_for_client_certificate

SYNC_SERVICE_ENVIRON_KEY = "esync.sync_service"


class PeerAuthenticationMiddleware:
    """On the sync service every request must come from a trusted peer's client certificate.

    The TLS layer already refuses unknown certificates; this maps the verified certificate to
    its TrustedPeer (`request.peer`) and refuses one that was removed since the handshake.
    The Workarea's own URLs are never reachable through the sync service, nor the peer API
    through the web port.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if not request.META.get(SYNC_SERVICE_ENVIRON_KEY):
            request.peer = None
            return self.get_response(request)
        request.urlconf = "esync_site.peer_urls"
        request._dont_enforce_csrf_checks = True  # authenticated by certificate, not cookie
        request.peer = peer_for_client_certificate(request.META.get("SSL_CLIENT_CERT"))
        if request.peer is None:
            return JsonResponse({
                "error": "certificate_not_trusted",
                "message": "this instance does not trust the client certificate presented",
            }, status=403)
        return self.get_response(request)
