from django.urls import path

from cms import views

app_name = "cms"

urlpatterns = [
    path("", views.browser, name="browser"),
    path("folders/new/", views.folder_new, name="folder_new"),
    path("content/new/", views.content_new, name="content_new"),
    path("content/<int:content_id>/", views.content_view, name="content"),
    path("content/<int:content_id>/edit/", views.content_edit, name="content_edit"),
    path("content/<int:content_id>/submit/", views.content_submit, name="content_submit"),
    path("content/<int:content_id>/approve/", views.content_approve, name="content_approve"),
    path("content/<int:content_id>/history/", views.content_history, name="content_history"),
    path("library/", views.library, name="library"),
]
