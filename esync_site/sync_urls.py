"""Settings > Configuration > Synchronization screens: Administrators and Synchronization Admins."""

from django.urls import path

from certificates import views as certificate_views
from profiles import views as profile_views
from relationships import views as relationship_views

app_name = "sync"

urlpatterns = [
    path("", profile_views.configurations, name="configurations"),
    path("server/", relationship_views.server_info, name="server_info"),
    path("relationships/new/", relationship_views.wizard_connect, name="relationship_new"),
    path("relationships/new/database/", relationship_views.wizard_database,
         name="relationship_database"),
    path("relationships/new/direction/", relationship_views.wizard_direction,
         name="relationship_direction"),
    path("relationships/<int:relationship_id>/initial-sync/", relationship_views.initial_sync,
         name="relationship_initial_sync"),
    path("relationships/<int:relationship_id>/delete/", relationship_views.delete,
         name="relationship_delete"),
    path("runs/<int:run_id>/", relationship_views.run_progress, name="run"),
    path("runs/<int:run_id>/state/", relationship_views.run_state, name="run_state"),
    path("security/", certificate_views.security_configurator, name="security"),
    path("security/generate/", certificate_views.generate, name="security_generate"),
    path("security/export/", certificate_views.export, name="security_export"),
    path("security/apply/", certificate_views.apply, name="security_apply"),
    path("security/test/", certificate_views.test_connection, name="security_test"),
    path("security/peers/<int:peer_id>/remove/", certificate_views.remove_peer,
         name="security_remove_peer"),
]
