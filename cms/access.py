"""Who may open which Workarea screen, as view decorators and a template context."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from cms import roles


def workarea_required(view):
    """Signed-in CMS users only: membership users are site visitors, not editors."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_membership:
            raise PermissionDenied("Membership users cannot use the Workarea.")
        return view(request, *args, **kwargs)

    return wrapper


def sync_admin_required(view):
    """Administrators and the Synchronization Admin role only (the manual's requirement)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not roles.can_administer_sync(request.user):
            raise PermissionDenied(
                "Only Administrators and Synchronization Admins can open this screen."
            )
        return view(request, *args, **kwargs)

    wrapper.requires_sync_admin = True  # tests enumerate the URLs guarded this way
    return wrapper


def workarea_context(request) -> dict:
    from django.conf import settings

    user = getattr(request, "user", None)
    return {
        "instance_name": settings.ESYNC.name,
        "can_administer_sync": bool(user) and roles.can_administer_sync(user),
    }
