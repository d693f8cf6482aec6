"""Each scheduled profile's entry in django-celery-beat's database scheduler.

Saving a profile rewrites its entry; beat's DatabaseScheduler notices the change on its next
tick (django-celery-beat bumps PeriodicTasks on every save), so no restart is needed.

- One Time: a clocked, one-off entry at the start.
- Hourly: a crontab in UTC at the start's UTC minute, so it runs every hour of real time
  (a wall-clock crontab would skip the repeated hour when the clocks go back).
- Daily, Weekly, Monthly: a crontab in the instance's time zone (day of month 31 simply never
  matches a 30-day month; Celery runs a wall-clock time the clocks skipped once, later by the
  jump, and a repeated one once).

A crontab entry starts with its "last run" set to the start before its next one (from now,
never a start already past: saving a schedule does not run it at once), or a minute before
its first start. Not "a minute before the next start": on the day the clocks jump, the next
start of a skipped time (02:30 → 03:30) comes after that minute by the crontab's reckoning,
which would skip that day. Nor the entry's start_time: django-celery-beat queues such an
entry in beat's heap for the crontab's *second* occurrence after start_time while firing at
the first, so beat, which only looks at the head of its heap, would not send it on time.

Beat only wakes the task; profiles.scheduled_runs decides which start a trigger belongs to
and runs each start once.
"""

from __future__ import annotations

import datetime as dt
import json

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from profiles import schedules

TASK = "esync.run_scheduled_profile"


def entry_name(profile_id: int) -> str:
    return f"esync profile {profile_id}"


def save_entry(profile, now: dt.datetime | None = None) -> PeriodicTask | None:
    """Make the profile's beat entry match its schedule (none, or nothing ahead: no entry)."""
    rule = profile.schedule_rule
    now = now or timezone.now()
    with transaction.atomic():
        remove_entry(profile.id)
        if rule.kind == "none":
            return None
        first = schedules.next_start(rule, max(now, rule.first_start - dt.timedelta(seconds=1)))
        if first is None:
            return None
        entry = PeriodicTask(name=entry_name(profile.id), task=TASK,
                             args=json.dumps([profile.id]), enabled=True,
                             description=f"{profile.name}: {schedules.describe(rule)}")
        if rule.kind == "once":
            entry.clocked = ClockedSchedule.objects.create(clocked_time=first)
            entry.one_off = True
        else:
            entry.crontab = CrontabSchedule.objects.create(**_crontab_fields(rule))
            before = schedules.latest_start(rule, first - dt.timedelta(seconds=1))
            entry.last_run_at = before or first - dt.timedelta(minutes=1)
        entry.save()
        return entry


def rebuild_entries_for_time_zone() -> int:
    """After the instance's time_zone changed, make the wall-clock entries (daily, weekly,
    monthly: crontabs in a zone) follow it; returns how many were rebuilt. Hourly and One
    Time entries hang on instants and stay."""
    from profiles.models import Profile

    rebuilt = 0
    for profile in Profile.objects.filter(schedule__in=["daily", "weekly", "monthly"]):
        entry = PeriodicTask.objects.filter(name=entry_name(profile.id)).select_related(
            "crontab").first()
        zone = profile.schedule_rule.zone
        if entry is not None and entry.crontab is not None and str(
                entry.crontab.timezone) != zone:
            save_entry(profile)
            rebuilt += 1
    return rebuilt


def remove_entry(profile_id: int) -> None:
    for entry in PeriodicTask.objects.filter(name=entry_name(profile_id)).select_related(
            "crontab", "clocked"):
        crontab, clocked = entry.crontab, entry.clocked
        entry.delete()
        if crontab is not None:
            crontab.delete()
        if clocked is not None:
            clocked.delete()


def _crontab_fields(rule: schedules.Schedule) -> dict:
    if rule.kind == "hourly":
        utc_start = rule.local_start.astimezone(schedules.UTC)
        return {"minute": str(utc_start.minute), "hour": "*", "day_of_week": "*",
                "day_of_month": "*", "month_of_year": "*", "timezone": "UTC"}
    local = rule.local_start
    fields = {"minute": str(local.minute), "hour": str(local.hour), "day_of_week": "*",
              "day_of_month": "*", "month_of_year": "*", "timezone": rule.zone}
    if rule.kind == "weekly":
        fields["day_of_week"] = str((rule.weekday + 1) % 7)  # crontab: 0 is Sunday
    if rule.kind == "monthly":
        fields["day_of_month"] = str(rule.day)
    return fields
