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


def _role_required(check, allowed: tuple[str, ...], refusal: str):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied(refusal)
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed  # tests enumerate the guarded URLs by this
        return wrapper

    return decorator


# Administrators and the Synchronization Admin role (the manual's requirement for sync screens).
sync_admin_required = _role_required(
    roles.can_administer_sync, (roles.ADMINISTRATORS, roles.SYNCHRONIZATION_ADMIN),
    "Only Administrators and Synchronization Admins can open this screen.",
)
# Administrators only: the Security Configurator holds the keys to every peer's trust.
administrator_required = _role_required(
    roles.is_administrator, (roles.ADMINISTRATORS,),
    "Only Administrators can open this screen.",
)


def workarea_context(request) -> dict:
    from django.conf import settings

    held = roles.roles_of(request.user) if hasattr(request, "user") else set()
    return {
        "instance_name": settings.ESYNC.name,
        "time_zone": settings.ESYNC.time_zone,  # shown beside times on the screens
        # The Synchronize actions: sync enabled here and the user holds a sync role.
        "can_synchronize": bool(held) and settings.ESYNC.esync_enabled,
        "can_administer_sync": bool(held),
        "user_is_administrator": roles.ADMINISTRATORS in held,
    }
