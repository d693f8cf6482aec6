"""Settings > Configuration > Synchronization screens: Administrators and Synchronization Admins."""

from django.urls import path

from certificates import views as certificate_views
from profiles import views as profile_views
from relationships import views as relationship_views

app_name = "sync"

urlpatterns = [
    path("", profile_views.configurations, name="configurations"),
    path("server/", relationship_views.server_info, name="server_info"),
    path("security/", certificate_views.security_configurator, name="security"),
    path("security/generate/", certificate_views.generate, name="security_generate"),
    path("security/export/", certificate_views.export, name="security_export"),
    path("security/apply/", certificate_views.apply, name="security_apply"),
    path("security/test/", certificate_views.test_connection, name="security_test"),
    path("security/peers/<int:peer_id>/remove/", certificate_views.remove_peer,
         name="security_remove_peer"),
]
