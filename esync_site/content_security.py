"""Content-Security-Policy: Workarea pages run only our static scripts; site pages are sandboxed.

The public site (content pages rendered from HTML that editors wrote or a peer synced, and the
site root's own files) is served on the Workarea's origin. Two policies keep its script from
acting as a signed-in user:

- Every response of a view marked `serves_site_content` carries `sandbox` without
  `allow-same-origin`: the browser gives the document an opaque origin, so a script on a site
  page (the site's own, or one in a synced body) runs, but not as this origin. It cannot read
  cookies or storage, and what it fetches from the Workarea goes out cross-site (no SameSite=Lax
  cookie, no readable answer, an `Origin: null` that the CSRF check refuses).
- Every other response (the Workarea, the sign-in and sign-up screens, the admin) allows scripts
  only from our static files and the admin's translation catalogue (`script-src` names their
  paths, not the whole origin, which also serves site files): no inline script or
  event-handler attribute, no plugin, and forms that post only here. The content preview, an
  iframe `srcdoc`, inherits this policy on top of its own `sandbox` attribute.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

HEADER = "Content-Security-Policy"

# What a site page may do in its opaque origin: run its scripts, send its forms (a post to one
# of our views carries no session cookie and fails the CSRF check), open links in a new tab as
# ordinary pages, offer downloads, show alert/confirm. Never allow-same-origin.
SITE_POLICY = ("sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox "
               "allow-downloads allow-modals")

WORKAREA_POLICY = (
    "default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: http: https:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)

_MARK = "serves_site_content"


def serves_site_content(view: Callable) -> Callable:
    """Mark a view whose responses are site content: they get the sandboxing policy."""
    setattr(view, _MARK, True)
    return view


def static_scripts_source(request: HttpRequest) -> str:
    """The source expressions of our scripts: the static files' folder on this origin, and
    the admin's translation catalogue (a script Django writes, no content in it)."""
    origin = f"{request.scheme}://{request.get_host()}"
    static_url = settings.STATIC_URL or "/static/"
    if not static_url.startswith(("http://", "https://")):
        static_url = origin + ("" if static_url.startswith("/") else "/") + static_url
    try:
        catalogue = origin + reverse("admin:jsi18n")
    except NoReverseMatch:
        return static_url
    return f"{static_url} {catalogue}"


def workarea_policy(request: HttpRequest) -> str:
    return WORKAREA_POLICY.format(scripts=static_scripts_source(request))


class ContentSecurityPolicyMiddleware:
    """Sets the policy on every response that has none yet (site content or Workarea)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            if getattr(request, "esync_site_content", False):
                response[HEADER] = SITE_POLICY
            else:
                try:
                    response[HEADER] = workarea_policy(request)
                except DisallowedHost:  # the page itself is refused: allow no script
                    response[HEADER] = WORKAREA_POLICY.format(scripts="'none'")
        return response

    def process_view(self, request: HttpRequest, view_func: Callable, view_args, view_kwargs):
        request.esync_site_content = bool(getattr(view_func, _MARK, False))
        return None
