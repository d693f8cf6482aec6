"""The CMS sites of this instance. The default site's files live in HOME/siteroot.

Multi-site instances come with the relationships work; until then there is one site.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class Site:
    name: str
    site_root: Path
    is_default: bool

    def as_dict(self) -> dict:
        return {"name": self.name, "site_root": str(self.site_root), "default": self.is_default}


def default_site() -> Site:
    return Site(name="default", site_root=Path(settings.SITE_ROOT), is_default=True)


def list_sites() -> list[Site]:
    """Sites that can take part in a sync: those whose site root folder exists."""
    return [site for site in (default_site(),) if site.site_root.is_dir()]
