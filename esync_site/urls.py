from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from cms import site_views
from cms import views as cms_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="cms:browser", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("workarea/", include("cms.urls")),
    path("workarea/settings/synchronization/", include("esync_site.sync_urls")),
    path("admin/", admin.site.urls),
    path("site/signup/", site_views.signup, name="site_signup"),
    path("site/content/<int:content_id>/", site_views.page, name="site_page"),
    path("site/<path:alias>", site_views.alias, name="site_alias"),
    re_path(
        r"^(?P<folder>(?i:assets|uploadedimages|uploadedfiles))/(?P<path>.+)$",
        cms_views.site_file,
        name="site_file",
    ),
    # Last: any other site root file a Templates profile syncs (css/site.css, scripts...).
    re_path(r"^(?P<path>[^/].*)$", cms_views.site_root_file, name="site_root_file"),
]
