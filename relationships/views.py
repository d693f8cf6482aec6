"""The read-only Server information screen."""

from django.shortcuts import render

from cms.access import sync_admin_required
from relationships.server_identity import describe_instance


@sync_admin_required
def server_info(request):
    return render(request, "relationships/server_info.html", {"info": describe_instance()})
