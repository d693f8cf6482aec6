"""This instance in a sync configuration: its server id, number and ID range."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from esync_site import ESYNC_VERSION
from relationships.id_ranges import apply_id_range
from relationships.models import ServerInfo


def get_server_info() -> ServerInfo:
    """The single ServerInfo row, created with a fresh server id the first time."""
    info = ServerInfo.objects.order_by("id").first()
    if info is None:
        with transaction.atomic():
            info = ServerInfo.objects.select_for_update().order_by("id").first()
            if info is None:
                info = ServerInfo.objects.create()
    return info


@transaction.atomic
def assign_server_number(number: int) -> ServerInfo:
    """Give this instance its number; its ID range takes effect at once."""
    if number < 1:
        raise ValueError("A server number is 1 or more.")
    info = get_server_info()
    info.server_number = number
    info.max_id = number
    info.save(update_fields=["server_number", "max_id"])
    apply_id_range()
    return info


def describe_databases() -> list[dict]:
    """The databases a peer may sync with: this instance's own (the manual's Step 2 list)."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return [{"name": Path(settings_dict["NAME"]).stem, "vendor": "sqlite",
                 "server": "local file"}]
    host = settings_dict.get("HOST") or "local socket"
    port = settings_dict.get("PORT")
    return [{"name": settings_dict["NAME"], "vendor": connection.vendor,
             "server": f"{host}:{port}" if port else host}]


def describe_instance() -> dict:
    """What `esync info` and the Server information screen show."""
    from cms.sites import list_sites

    info = get_server_info()
    first, last = info.id_range
    config = settings.ESYNC
    return {
        "name": config.name,
        "server_id": str(info.server_id),
        "server_number": info.server_number,
        "max_id": info.max_id,
        "id_range": {"first": first, "last": last},
        "version": ESYNC_VERSION,
        "home": str(config.home),
        "database": connection.vendor,
        "sites": [site.as_dict() for site in list_sites()],
        "ports": {"web": config.web_port, "sync": config.sync_port},
    }
