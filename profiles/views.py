"""Settings > Configuration > Synchronization: View All Synchronization Configurations."""

from django.shortcuts import render

from cms.access import sync_admin_required
from relationships.models import Relationship
from relationships.views import force_available
from syncengine.models import SyncRun


@sync_admin_required
def configurations(request):
    relationships = list(Relationship.objects.select_related("certificate")
                         .prefetch_related("profiles"))
    last_runs = {}
    for run in SyncRun.objects.filter(relationship__in=relationships).order_by("id"):
        last_runs[run.relationship_id] = run
    blocks = [{"relationship": r, "last_run": last_runs.get(r.id),
               "force_available": force_available(r)} for r in relationships]
    return render(request, "profiles/configurations.html", {"blocks": blocks})
