"""The public site: content pages rendered through the site root's template, and sign-up."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template import Context, Template, TemplateSyntaxError

from cms.membership import SignUpRefused, sign_up
from cms.models import Content, UrlAlias
from esync_site.content_security import serves_site_content

PAGE_TEMPLATE = "templates/page.html"


def _render_page(content: Content, request=None) -> HttpResponse:
    template_file = settings.SITE_ROOT / PAGE_TEMPLATE
    try:
        template = Template(template_file.read_text(encoding="utf-8"))
    except (OSError, TemplateSyntaxError) as error:
        return HttpResponse(f"The site's page template ({PAGE_TEMPLATE}) cannot be used: "
                            f"{error}", status=500, content_type="text/plain")
    html = template.render(Context({"content": content}))
    return HttpResponse(_with_editor_bar(html, content, request))


def _with_editor_bar(html: str, content: Content, request) -> str:
    """For a signed-in user with a sync role, while sync is enabled: a bar above the page
    with Synchronize for this item (the site's own template need not know of it)."""
    from django.urls import reverse
    from django.utils.html import format_html

    from cms import roles

    user = getattr(request, "user", None)
    if not (user and user.is_authenticated and settings.ESYNC.esync_enabled
            and roles.can_administer_sync(user) and content.kind != Content.Kind.FORUM_POST):
        return html
    bar = format_html(
        '<div class="esync-editor-bar" style="font:14px sans-serif;padding:6px 12px;'
        'background:#223;color:#fff"><a style="color:#fff" href="{}">Synchronize</a> '
        '“{}” to another server</div>',
        reverse("sync:content_synchronize", args=[content.id]), content.title)
    match = re.search(r"<body[^>]*>", html, re.IGNORECASE)
    at = match.end() if match else 0
    return html[:at] + bar + html[at:]


@serves_site_content
def page(request, content_id: int):
    """An approved content item as the site shows it."""
    content = get_object_or_404(Content, id=content_id, status=Content.Status.APPROVED)
    return _render_page(content, request)


@serves_site_content
def alias(request, alias: str):
    found = UrlAlias.objects.select_related("content").filter(alias=alias).first()
    if found is None or found.content.status != Content.Status.APPROVED:
        raise Http404("No such page")
    return _render_page(found.content, request)


def signup(request):
    errors: dict[str, str] = {}
    values = {"username": "", "email": ""}
    if request.method == "POST":
        values = {"username": request.POST.get("username", ""),
                  "email": request.POST.get("email", "")}
        try:
            user = sign_up(values["username"], values["email"], request.POST.get("password", ""))
        except SignUpRefused as refused:
            errors = refused.errors
        else:
            return render(request, "site/signed_up.html", {"member": user})
    return render(request, "site/signup.html", {"errors": errors, "values": values},
                  status=400 if errors else 200)
