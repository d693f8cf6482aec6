"""A scheduled profile falling due: one run per start, however often beat sends the trigger.

Beat may send a start's trigger more than once (a beat killed before it saved that it had
sent it sends it again when restarted) and sends a missed start's trigger once when the
instance is back. Each trigger is matched to the latest start at or before now; the run
for that start is created once (a unique constraint on profile + start), so a repeat finds it
there and does nothing. A run created well after its start says why in its log.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from profiles import schedules
from profiles.models import Profile
from syncengine import runs
from syncengine.models import SyncRun

log = logging.getLogger(__name__)

# Beat sends a trigger a moment after its start; one sent this much early still counts.
EARLY_TOLERANCE = dt.timedelta(seconds=30)
# Created this long after its start, a run is "late" and its log says why.
LATE_AFTER = dt.timedelta(seconds=runs.LATE_AFTER)
SCHEDULER = "scheduler"


def start_scheduled_run(profile_id: int, now: dt.datetime | None = None) -> SyncRun | None:
    """Queue the run for the profile's latest due start, unless it exists; the new run, or
    None when there is nothing to do (no such profile or schedule, not yet due, done)."""
    now = now or timezone.now()
    profile = Profile.objects.select_related("relationship").filter(id=profile_id).first()
    if profile is None or profile.schedule == "none":
        log.info("Scheduled trigger for profile %s ignored: no such schedule.", profile_id)
        return None
    slot = schedules.latest_start(profile.schedule_rule, now + EARLY_TOLERANCE)
    if slot is None:
        return None
    late_reason = _why_late(slot) if now - slot > LATE_AFTER else ""
    try:
        with runs.exclusive():
            run = SyncRun.objects.create(
                kind=SyncRun.Kind.FULL_SYNC, relationship=profile.relationship,
                profile=profile, direction=profile.direction, user_name=SCHEDULER,
                scheduled_for=slot, late_reason=late_reason,
                phase="Waiting for the worker")
            transaction.on_commit(lambda: runs.dispatch_next())
    except IntegrityError:  # this start's run exists: a repeated trigger
        return None
    return run


def _why_late(slot: dt.datetime) -> str:
    busy = SyncRun.objects.filter(started_at__lte=slot).filter(
        Q(ended_at__gte=slot) | Q(ended_at__isnull=True, status=SyncRun.Status.RUNNING)).order_by(
        "-id").first()
    if busy is not None:
        return runs.waited_for(slot, busy)
    return (f"it was due at {timezone.localtime(slot):%Y-%m-%d %H:%M}, when this instance's "
            "scheduler or worker was not running; it ran once when they were back")
