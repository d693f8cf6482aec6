"""The public site: content pages rendered through the site root's template, and sign-up."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template import Context, Template, TemplateSyntaxError

from cms.membership import SignUpRefused, sign_up
from cms.models import Content, UrlAlias

PAGE_TEMPLATE = "templates/page.html"


def _render_page(content: Content) -> HttpResponse:
    template_file = settings.SITE_ROOT / PAGE_TEMPLATE
    try:
        template = Template(template_file.read_text(encoding="utf-8"))
    except (OSError, TemplateSyntaxError) as error:
        return HttpResponse(f"The site's page template ({PAGE_TEMPLATE}) cannot be used: "
                            f"{error}", status=500, content_type="text/plain")
    return HttpResponse(template.render(Context({"content": content})))


def page(request, content_id: int):
    """An approved content item as the site shows it."""
    content = get_object_or_404(Content, id=content_id, status=Content.Status.APPROVED)
    return _render_page(content)


def alias(request, alias: str):
    found = UrlAlias.objects.select_related("content").filter(alias=alias).first()
    if found is None or found.content.status != Content.Status.APPROVED:
        raise Http404("No such page")
    return _render_page(found.content)


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
