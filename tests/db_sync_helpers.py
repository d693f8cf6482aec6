"""Helpers for change-tracked sync tests: a staged pair of real instances and small edits."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from tests.real_instances import RealInstance, Served
from tests.sync_helpers import create_relationship, seed, trust_both_ways


@dataclass
class StagedPair:
    staging: RealInstance
    production: RealInstance
    relationship: int
    staging_served: Served | None = None  # staging's `esync serve`
    production_sync_service: subprocess.Popen | None = None

    def add_profile(self, name: str, direction: str, policy: str = "remote-wins") -> str:
        self.staging.esync("profile", "add", str(self.relationship), "--name", name,
                           "--items", "database", "--direction", direction,
                           "--policy", policy)
        return name

    def sync(self, profile: str, check: bool = True):
        return self.staging.esync("sync", profile, "--wait", check=check)


@contextmanager
def staged_pair(real_instances, scratch, backend: str = "sqlite",
                staging_broker: str = "", production_web: bool = False) -> Iterator[StagedPair]:
    """Staging and production paired, staging's site copied up; staging's worker and
    production's sync service running for the duration (with `production_web`, production's
    whole `esync serve`, its site included). `staging_broker`: a broker URL for staging (its
    esync.toml broker_url) instead of the embedded one."""
    staging = real_instances("staging", backend=backend)
    production = real_instances("production", backend=backend)
    if staging_broker:
        config = staging.home / "esync.toml"
        config.write_text(config.read_text().replace(
            'broker_url = ""', f'broker_url = "{staging_broker}"'))
    seed(staging)
    trust_both_ways(staging, production, scratch)
    with ExitStack() as stack:
        if production_web:
            stack.enter_context(production.serving())
            sync_service = None
        else:
            sync_service = stack.enter_context(production.sync_serving())
        served = stack.enter_context(staging.serving())
        relationship = create_relationship(staging, production, "upload")
        staging.esync("initial-sync", str(relationship), "--wait")
        yield StagedPair(staging, production, relationship, served, sync_service)


def run_python(instance: RealInstance, code: str) -> object:
    """Run `code` (which sets `result`) in the instance; returns `result` via JSON."""
    out = instance.python(code + "\nimport json as _j\nprint('RESULT=' + _j.dumps(result, "
                                 "default=str))")
    line = next(x for x in out.splitlines() if x.startswith("RESULT="))
    return json.loads(line[len("RESULT="):])


EDIT_CONTENT = """
from cms.models import Content
c = Content.objects.get(id={id})
c.title = {title!r}
c.save()
result = c.id
"""

FIRST_CONTENT = """
from cms.models import Content
result = Content.objects.order_by("id").values_list("id", flat=True).first()
"""

TITLE_OF = """
from cms.models import Content
result = Content.objects.filter(id={id}).values_list("title", flat=True).first()
"""

SIGN_UP_MEMBER = """
from cms.models import User
u = User.objects.create_user({username!r}, password="member-pass-1", kind="membership")
result = u.id
"""

HAS_USER = """
from cms.models import User
result = list(User.objects.filter(username__startswith={username!r})
              .values_list("username", flat=True))
"""

LAST_RUN = """
from syncengine.models import SyncRun
r = SyncRun.objects.order_by("-id").first()
result = dict(status=r.status, applied=r.applied, skipped=r.skipped, total=r.total,
              message=r.message, kind=r.kind,
              skips=[dict(table=s.table_name, stage=s.stage, error=s.error,
                          remote_key=s.remote_key, local_key=s.local_key, side=s.side)
                     for s in r.skipped_rows.all()])
"""
