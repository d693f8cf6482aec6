"""A profile's schedule as the manual defines it: when it starts, in words, and whether two
schedules would ever start in the same minute.

Pure rules, no database: the beat entries (profiles.beat_entries) and the scheduled run's
slot (profiles.scheduled_runs) both follow them.

- None: never. One Time: at its start. Hourly: from the start, every hour (of real time) at
  the start's minute. Daily: every day at the start's time of day, from the start date.
  Weekly: on its weekday. Monthly: on its day (1-31), and not at all in a month without that
  day (31 skips February, April, June, September and November).
- Times are wall-clock times in the instance's time zone. When a daylight-saving change makes
  the time not exist that day (spring forward), the run starts as many minutes later as the
  clock jumped; when the time happens twice (fall back), the run starts at the first one. A
  daily run is never skipped nor doubled by the change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

KINDS = ("none", "once", "hourly", "daily", "weekly", "monthly")
KIND_LABELS = {"none": "None", "once": "One Time", "hourly": "Hourly", "daily": "Daily",
               "weekly": "Weekly", "monthly": "Monthly"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UTC = dt.UTC
HOUR = dt.timedelta(hours=1)


class ScheduleInvalid(ValueError):
    """The schedule's fields do not make a schedule; `field` names the one at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Schedule:
    kind: str = "none"
    start: dt.datetime | None = None  # aware; its wall-clock time in `zone` is what counts
    weekday: int | None = None  # weekly: 0 Monday .. 6 Sunday
    day: int | None = None  # monthly: 1..31
    zone: str = "UTC"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def local_start(self) -> dt.datetime:
        """The start in the schedule's zone, on the minute (see `first_start` for One Time)."""
        assert self.start is not None
        return self.start.astimezone(self.tz).replace(second=0, microsecond=0)

    @property
    def first_start(self) -> dt.datetime:
        """The instant of the first start (UTC): a One Time start keeps its seconds."""
        if self.kind == "once":
            return self.start.astimezone(UTC).replace(microsecond=0)
        return self.local_start.astimezone(UTC)

    @property
    def recurring(self) -> bool:
        return self.kind in ("hourly", "daily", "weekly", "monthly")


def make(kind: str, start: dt.datetime | None, weekday: int | None = None,
         day: int | None = None, zone: str = "UTC") -> Schedule:
    """A checked schedule. A naive `start` is a wall-clock time in `zone`; weekly's weekday and
    monthly's day default to the start date's."""
    if kind not in KINDS:
        raise ScheduleInvalid("schedule", "Choose None, One Time, Hourly, Daily, Weekly or "
                                          "Monthly.")
    if kind == "none":
        return Schedule(zone=zone)
    if start is None:
        raise ScheduleInvalid("start", f"A {KIND_LABELS[kind]} schedule needs a start date "
                                       "and time.")
    if start.tzinfo is None:
        wall_clock = start
        start = start.replace(tzinfo=ZoneInfo(zone))
        if start.astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) != wall_clock:
            raise ScheduleInvalid("start", f"{wall_clock:%Y-%m-%d %H:%M} does not exist in "
                                           f"{zone}: the clocks jump past it that day. Choose "
                                           "another time.")
    # A one-time start may name its second (scripts do); recurring ones start on the minute.
    start = start.replace(microsecond=0) if kind == "once" else start.replace(second=0,
                                                                              microsecond=0)
    local = start.astimezone(ZoneInfo(zone))
    if kind == "weekly":
        weekday = local.weekday() if weekday is None else weekday
        if not 0 <= weekday <= 6:
            raise ScheduleInvalid("weekday", "Choose a day of the week.")
    else:
        weekday = None
    if kind == "monthly":
        day = local.day if day is None else day
        if not 1 <= day <= 31:
            raise ScheduleInvalid("day", "Enter a day of the month from 1 to 31.")
    else:
        day = None
    return Schedule(kind, start, weekday, day, zone)


def at_wall_clock(date: dt.date, time: dt.time, tz: ZoneInfo) -> dt.datetime:
    """`time` on `date` in `tz` as a UTC instant: a time the clock skipped moves later by the
    jump, a time that happened twice is its first occurrence."""
    return dt.datetime.combine(date, time, tzinfo=tz).astimezone(UTC)


def _matches_day(schedule: Schedule, date: dt.date) -> bool:
    if schedule.kind == "weekly":
        return date.weekday() == schedule.weekday
    if schedule.kind == "monthly":
        return date.day == schedule.day
    return True


def starts(schedule: Schedule, after: dt.datetime) -> Iterator[dt.datetime]:
    """The schedule's start instants (UTC) strictly after `after`, in order, for ever."""
    if schedule.kind == "none":
        return
    first = schedule.first_start
    if schedule.kind == "once":
        if first > after:
            yield first
        return
    if schedule.kind == "hourly":
        skip = max(0, int((after - first) // HOUR)) if after > first else 0
        at = first + skip * HOUR
        while True:
            if at > after:
                yield at
            at += HOUR
    tz = schedule.tz
    time_of_day = schedule.local_start.time()
    date = max(schedule.local_start.date(), after.astimezone(tz).date() - dt.timedelta(days=1))
    while True:
        if _matches_day(schedule, date):
            at = at_wall_clock(date, time_of_day, tz)
            if at > after and at >= first:
                yield at
        date += dt.timedelta(days=1)


def next_start(schedule: Schedule, after: dt.datetime) -> dt.datetime | None:
    return next(starts(schedule, after), None)


def next_starts(schedule: Schedule, after: dt.datetime, count: int) -> list[dt.datetime]:
    found = []
    for at in starts(schedule, after):
        found.append(at)
        if len(found) == count:
            break
    return found


def latest_start(schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
    """The last start at or before `now` (None before the first): the slot a late or
    repeated trigger belongs to."""
    if schedule.kind == "none":
        return None
    first = schedule.first_start
    if now < first:
        return None
    if schedule.kind == "once":
        return first
    # The longest gap between two starts: a monthly day 29-31 skips a month (59 days).
    period = {"hourly": HOUR, "daily": dt.timedelta(days=2), "weekly": dt.timedelta(days=8)
              }.get(schedule.kind, dt.timedelta(days=62))
    latest = None
    for at in starts(schedule, max(first - dt.timedelta(seconds=1), now - period)):
        if at > now:
            break
        latest = at
    return latest


def describe(schedule: Schedule) -> str:
    """The schedule in words, as the configurations screen shows it."""
    if schedule.kind == "none":
        return "Never"
    local = schedule.local_start
    time_of_day, zone = f"{local:%H:%M}", schedule.zone
    if schedule.kind == "once":
        exact = schedule.first_start.astimezone(schedule.tz)
        at = f"{exact:%H:%M:%S}" if exact.second else time_of_day
        return f"Once on {local:%Y-%m-%d} at {at} {zone}"
    if schedule.kind == "hourly":
        return f"Hourly at :{local:%M} from {local:%Y-%m-%d %H:%M} {zone}"
    since = f" from {local:%Y-%m-%d}"
    if schedule.kind == "daily":
        return f"Daily at {time_of_day} {zone}{since}"
    if schedule.kind == "weekly":
        return f"Weekly on {WEEKDAYS[schedule.weekday]} at {time_of_day} {zone}{since}"
    note = " (not in months without that day)" if schedule.day > 28 else ""
    return f"Monthly on day {schedule.day} at {time_of_day} {zone}{since}{note}"


def share_a_minute(a: Schedule, b: Schedule) -> bool:
    """Would `a` and `b` ever start in the same minute? (The manual: you cannot schedule more
    than one sync to begin at the same time.)

    Wall-clock rules: recurring schedules run for ever, so they meet when their minute, hour
    (unless hourly) and day rules can coincide; a weekday and a day of the month always
    coincide in some month. A one-time start meets whatever starts in its minute.
    """
    if a.kind == "none" or b.kind == "none":
        return False
    if a.kind == "once" or b.kind == "once":
        once, other = (a, b) if a.kind == "once" else (b, a)
        minute = once.local_start.astimezone(UTC)
        at = next_start(other, minute - dt.timedelta(seconds=1))
        return at is not None and at < minute + dt.timedelta(minutes=1)
    return _same_wall_clock(a, b) or _meet_on_a_clock_change(a, b)


def _same_wall_clock(a: Schedule, b: Schedule) -> bool:
    la, lb = a.local_start, b.local_start.astimezone(a.tz)
    if la.minute != lb.minute:
        return False
    if a.kind == "hourly" or b.kind == "hourly":
        return True
    if la.hour != lb.hour:
        return False
    kinds = {a.kind, b.kind}
    if kinds == {"weekly"}:
        return a.weekday == b.weekday
    if kinds == {"monthly"}:
        return a.day == b.day
    return True


CLOCK_CHANGE_YEARS = 28  # the calendar's weekdays and leap years repeat every 28 years


@lru_cache(maxsize=16)
def _clock_change_days(zone: str, first_year: int) -> tuple[dt.date, ...]:
    """The days in `zone` whose midnight-to-midnight length is not 24 hours, for
    CLOCK_CHANGE_YEARS from `first_year` (as the system's tz database knows them)."""
    tz = ZoneInfo(zone)
    day = dt.date(first_year, 1, 1)
    offset = dt.datetime.combine(day, dt.time(), tzinfo=tz).utcoffset()
    changes = []
    for _ in range(CLOCK_CHANGE_YEARS * 366):
        following = day + dt.timedelta(days=1)
        next_offset = dt.datetime.combine(following, dt.time(), tzinfo=tz).utcoffset()
        if next_offset != offset:
            changes.append(day)
        day, offset = following, next_offset
    return tuple(changes)


def _meet_on_a_clock_change(a: Schedule, b: Schedule) -> bool:
    """On a day the clocks jump, a time they skipped runs later by the jump and may meet
    another schedule's start: compare both schedules' starts on each such day ahead."""
    tz = a.tz
    since_day = max(a.local_start.date(), b.local_start.date())
    for day in _clock_change_days(a.zone, since_day.year):
        if day < since_day:
            continue
        since = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(UTC)
        until = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(),
                                    tzinfo=tz).astimezone(UTC)
        if _minutes_between(a, since, until) & _minutes_between(b, since, until):
            return True
    return False


def _minutes_between(schedule: Schedule, since: dt.datetime, until: dt.datetime) -> set:
    found = set()
    for at in starts(schedule, since - dt.timedelta(seconds=1)):
        if at >= until:
            break
        found.add(at.replace(second=0))
    return found
