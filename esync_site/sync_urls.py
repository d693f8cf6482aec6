"""Settings > Configuration > Synchronization screens: Administrators and Synchronization Admins."""

from django.urls import path

from certificates import views as certificate_views
from profiles import views as profile_views
from relationships import views as relationship_views
from syncengine import content_sync_views, held_views, version_views
from syncengine import views as engine_views

app_name = "sync"

urlpatterns = [
    path("", profile_views.configurations, name="configurations"),
    path("state/", profile_views.configurations_state, name="configurations_state"),
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
    path("peer-relationships/<int:relationship_id>/narrow/",
         relationship_views.narrow_peer_relationship, name="peer_relationship_narrow"),
    path("relationships/<int:relationship_id>/log/", engine_views.relationship_log,
         name="relationship_log"),
    path("relationships/<int:relationship_id>/profiles/new/", profile_views.add,
         name="profile_add"),
    path("profiles/<int:profile_id>/", profile_views.edit, name="profile_edit"),
    path("profiles/<int:profile_id>/delete/", profile_views.delete, name="profile_delete"),
    path("profiles/<int:profile_id>/sync/", profile_views.sync_now, name="profile_sync"),
    path("profiles/<int:profile_id>/files/", profile_views.synchronize_files,
         name="profile_files"),
    path("profiles/<int:profile_id>/preview/", engine_views.preview, name="profile_preview"),
    path("profiles/<int:profile_id>/log/", engine_views.profile_log, name="profile_log"),
    path("runs/<int:run_id>/", relationship_views.run_progress, name="run"),
    path("runs/<int:run_id>/state/", relationship_views.run_state, name="run_state"),
    path("content/<int:content_id>/synchronize/", content_sync_views.synchronize_content,
         name="content_synchronize"),
    path("folders/<int:folder_id>/synchronize/", content_sync_views.synchronize_folder,
         name="folder_synchronize"),
    path("logs/", engine_views.logs, name="logs"),
    path("logs/<int:run_id>/", engine_views.log_detail, name="log"),
    path("collisions/", engine_views.collisions, name="collisions"),
    path("held/", held_views.held, name="held"),
    path("held/<int:held_id>/decide/", held_views.decide, name="held_decide"),
    path("versions/", version_views.versions, name="versions"),
    path("versions/restore/", version_views.restore, name="version_restore"),
    path("conflicts/", engine_views.conflict_list, name="conflicts"),
    path("conflicts/<int:conflict_id>/restore/", engine_views.conflict_restore,
         name="conflict_restore"),
    path("security/", certificate_views.security_configurator, name="security"),
    path("security/generate/", certificate_views.generate, name="security_generate"),
    path("security/export/", certificate_views.export, name="security_export"),
    path("security/apply/", certificate_views.apply, name="security_apply"),
    path("security/test/", certificate_views.test_connection, name="security_test"),
    path("security/peers/<int:peer_id>/remove/", certificate_views.remove_peer,
         name="security_remove_peer"),
]
