"""Settings > Configuration > Synchronization screens: Administrators and Synchronization Admins."""

from django.urls import path

from profiles import views as profile_views
from relationships import views as relationship_views

app_name = "sync"

urlpatterns = [
    path("", profile_views.configurations, name="configurations"),
    path("server/", relationship_views.server_info, name="server_info"),
]
