"""The peer API (served only by the sync service, under /esync/v1/)."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from cms.sites import list_sites
from relationships.server_identity import describe_databases, get_server_info
from syncengine.instance_clock import reported_version, utc_now


@require_GET
def hello(request):
    """Who we are, what we run, what time we think it is, and what a peer may sync with."""
    from django.conf import settings

    info = get_server_info()
    return JsonResponse({
        "name": settings.ESYNC.name,
        "server_id": str(info.server_id),
        "server_number": info.server_number,
        "version": reported_version(),
        "utc_now": utc_now().isoformat(),
        "sites": [{"name": s.name, "default": s.is_default} for s in list_sites()],
        "databases": describe_databases(),
        "you_are": request.peer.name,
    })
