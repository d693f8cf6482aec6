"""Settings > Configuration > Synchronization: View All Synchronization Configurations."""

from django.shortcuts import render

from cms.access import sync_admin_required


@sync_admin_required
def configurations(request):
    # Relationships and profiles arrive with their own issues; until then the screen shows the
    # manual's empty state and says what is not built yet.
    return render(request, "profiles/configurations.html", {"relationships": []})
