"""The manual's schedule rules for a sync profile: when each kind of schedule starts (also across
daylight-saving changes, month ends and leap years), which start a late trigger belongs to, the
schedule in words, and whether two schedules would ever start in the same minute.

Every expectation is a wall-clock time worked out by hand, e.g. "2026-03-29 03:30 CEST".
Daylight-saving changes used here: Europe/Paris springs forward 2026-03-29 (02:00 CET becomes
03:00 CEST) and falls back 2026-10-25 (03:00 CEST becomes 02:00 CET); America/New_York springs
forward 2026-03-08 (02:00 EST becomes 03:00 EDT) and falls back 2026-11-01 (02:00 EDT becomes
01:00 EST).
"""

import datetime as dt
from itertools import pairwise, takewhile
from zoneinfo import ZoneInfo

import pytest

from profiles.schedules import (
    ScheduleInvalid,
    describe,
    latest_start,
    make,
    next_start,
    next_starts,
    share_a_minute,
    starts,
)

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"
UTC = dt.UTC


def wall(text, fold=0):
    """A naive wall-clock time as typed on the profile screen: "2026-11-25 02:00"."""
    return dt.datetime.fromisoformat(text).replace(fold=fold)


def instant(text, zone=PARIS, fold=0):
    """A moment given as a wall-clock time in `zone`."""
    return wall(text, fold).replace(tzinfo=ZoneInfo(zone))


def local(at, zone=PARIS):
    """How the configurations screen shows an instant: "2026-03-29 03:30 CEST"."""
    return None if at is None else at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def upcoming(schedule, after, count):
    return [local(at, schedule.zone) for at in next_starts(schedule, after, count)]


def between(schedule, begin, end):
    """The starts from `begin` (inclusive) up to `end` (exclusive), as wall-clock strings."""
    found = takewhile(lambda at: at < end, starts(schedule, begin - dt.timedelta(seconds=1)))
    return [local(at, schedule.zone) for at in found]


# --- Making a schedule ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "start", "weekday", "day", "field"), [
    ("fortnightly", wall("2026-11-25 02:00"), None, None, "schedule"),
    ("", wall("2026-11-25 02:00"), None, None, "schedule"),
    ("once", None, None, None, "start"),
    ("hourly", None, None, None, "start"),
    ("daily", None, None, None, "start"),
    ("weekly", None, 0, None, "start"),
    ("monthly", None, None, 15, "start"),
    ("weekly", wall("2026-11-25 02:00"), 7, None, "weekday"),
    ("weekly", wall("2026-11-25 02:00"), -1, None, "weekday"),
    ("monthly", wall("2026-11-25 02:00"), None, 0, "day"),
    ("monthly", wall("2026-11-25 02:00"), None, 32, "day"),
    ("monthly", wall("2026-11-25 02:00"), None, -1, "day"),
])
def test_given_fields_that_make_no_schedule_when_saved_then_the_faulty_field_is_named(
        kind, start, weekday, day, field):
    with pytest.raises(ScheduleInvalid) as refused:
        make(kind, start, weekday=weekday, day=day, zone=PARIS)
    assert refused.value.field == field
    assert str(refused.value)  # a message the screen can show next to the field
    assert isinstance(refused.value, ValueError)


def test_given_schedule_none_when_saved_without_a_start_then_it_never_runs():
    schedule = make("none", None, zone=PARIS)
    assert schedule.kind == "none"
    assert next_start(schedule, instant("2026-01-01 00:00")) is None
    assert latest_start(schedule, instant("2030-01-01 00:00")) is None
    assert describe(schedule) == "Never"


@pytest.mark.parametrize(("start", "weekday", "day"), [
    (wall("2026-11-25 02:00"), 2, 25),  # a Wednesday
    (wall("2026-11-30 09:00"), 0, 30),  # a Monday
    (wall("2026-11-29 09:00"), 6, 29),  # a Sunday
    # 23:30 UTC on Sunday the 29th is already 00:30 on Monday the 30th in Paris
    (dt.datetime(2026, 11, 29, 23, 30, tzinfo=UTC), 0, 30),
])
def test_given_no_weekday_or_day_when_saved_then_they_come_from_the_local_start_date(
        start, weekday, day):
    assert make("weekly", start, zone=PARIS).weekday == weekday
    assert make("monthly", start, zone=PARIS).day == day


@pytest.mark.parametrize(("weekday", "day"), [(0, 1), (6, 31)])
def test_given_the_first_and_last_weekday_and_day_when_saved_then_they_are_accepted(weekday, day):
    assert make("weekly", wall("2026-11-25 02:00"), weekday=weekday, zone=PARIS).weekday == weekday
    assert make("monthly", wall("2026-11-25 02:00"), day=day, zone=PARIS).day == day


@pytest.mark.parametrize("kind", ["hourly", "daily", "weekly", "monthly"])
def test_given_a_recurring_start_with_seconds_when_saved_then_it_starts_on_the_minute(kind):
    schedule = make(kind, wall("2026-11-25 02:00:45.5"), zone=PARIS)
    assert next_start(schedule, instant("2026-11-25 00:00")) == instant("2026-11-25 02:00")


# --- One Time ------------------------------------------------------------------------------------


def test_given_a_one_time_schedule_when_time_passes_then_it_runs_once_at_its_start():
    schedule = make("once", wall("2026-11-25 02:00"), zone=PARIS)
    assert upcoming(schedule, instant("2026-01-01 00:00"), 5) == ["2026-11-25 02:00 CET"]
    assert next_start(schedule, instant("2026-11-25 02:00")) is None  # strictly after
    assert next_start(schedule, instant("2026-11-25 02:01")) is None


# --- Hourly --------------------------------------------------------------------------------------


def test_given_an_hourly_schedule_when_time_passes_then_it_runs_every_hour_at_the_starts_minute():
    schedule = make("hourly", wall("2026-11-25 22:05"), zone=PARIS)
    assert upcoming(schedule, instant("2026-11-25 08:00"), 4) == [
        "2026-11-25 22:05 CET", "2026-11-25 23:05 CET",
        "2026-11-26 00:05 CET", "2026-11-26 01:05 CET",
    ]
    assert upcoming(schedule, instant("2026-11-27 10:05"), 2) == [
        "2026-11-27 11:05 CET", "2026-11-27 12:05 CET",
    ]


@pytest.mark.parametrize(("zone", "start", "expected"), [
    # Fall back: 02:15 happens twice (CEST, then CET) and both run.
    (PARIS, "2026-10-25 00:15", [
        "2026-10-25 00:15 CEST", "2026-10-25 01:15 CEST", "2026-10-25 02:15 CEST",
        "2026-10-25 02:15 CET", "2026-10-25 03:15 CET",
    ]),
    # Spring forward: no 02:15; the run after 01:15 is 03:15 CEST, one real hour later.
    (PARIS, "2026-03-29 00:15", [
        "2026-03-29 00:15 CET", "2026-03-29 01:15 CET", "2026-03-29 03:15 CEST",
        "2026-03-29 04:15 CEST",
    ]),
    (NEW_YORK, "2026-11-01 00:45", [
        "2026-11-01 00:45 EDT", "2026-11-01 01:45 EDT", "2026-11-01 01:45 EST",
        "2026-11-01 02:45 EST",
    ]),
    (NEW_YORK, "2026-03-08 00:45", [
        "2026-03-08 00:45 EST", "2026-03-08 01:45 EST", "2026-03-08 03:45 EDT",
        "2026-03-08 04:45 EDT",
    ]),
])
def test_given_an_hourly_schedule_when_the_clock_changes_then_it_keeps_every_real_hour(
        zone, start, expected):
    schedule = make("hourly", wall(start), zone=zone)
    runs = next_starts(schedule, instant(start, zone) - dt.timedelta(minutes=1), len(expected))
    assert [local(at, zone) for at in runs] == expected
    assert {later - earlier for earlier, later in pairwise(runs)} == {dt.timedelta(hours=1)}


# --- Daily ---------------------------------------------------------------------------------------


def test_given_a_daily_schedule_when_days_pass_then_it_runs_at_the_start_time_from_the_start_date():
    schedule = make("daily", wall("2026-11-25 02:00"), zone=PARIS)
    assert upcoming(schedule, instant("2026-11-01 00:00"), 3) == [
        "2026-11-25 02:00 CET", "2026-11-26 02:00 CET", "2026-11-27 02:00 CET",
    ]
    # strictly after: asked at a start, the next one is the following day's
    assert upcoming(schedule, instant("2026-11-26 02:00"), 1) == ["2026-11-27 02:00 CET"]
    assert upcoming(schedule, instant("2026-11-26 01:59"), 1) == ["2026-11-26 02:00 CET"]


@pytest.mark.parametrize(("zone", "start", "expected"), [
    # Spring forward: 02:30 does not exist on 2026-03-29; it runs at 03:30 CEST, once.
    (PARIS, "2026-03-27 02:30", [
        "2026-03-27 02:30 CET", "2026-03-28 02:30 CET", "2026-03-29 03:30 CEST",
        "2026-03-30 02:30 CEST",
    ]),
    # Fall back: 02:30 happens twice on 2026-10-25; it runs once, at the first (CEST).
    (PARIS, "2026-10-23 02:30", [
        "2026-10-23 02:30 CEST", "2026-10-24 02:30 CEST", "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
    ]),
    # Times outside the changed hour are simply kept.
    (PARIS, "2026-03-28 01:30", [
        "2026-03-28 01:30 CET", "2026-03-29 01:30 CET", "2026-03-30 01:30 CEST",
    ]),
    (PARIS, "2026-10-24 03:30", [
        "2026-10-24 03:30 CEST", "2026-10-25 03:30 CET", "2026-10-26 03:30 CET",
    ]),
    (NEW_YORK, "2026-03-06 02:30", [
        "2026-03-06 02:30 EST", "2026-03-07 02:30 EST", "2026-03-08 03:30 EDT",
        "2026-03-09 02:30 EDT",
    ]),
    (NEW_YORK, "2026-10-30 01:30", [
        "2026-10-30 01:30 EDT", "2026-10-31 01:30 EDT", "2026-11-01 01:30 EDT",
        "2026-11-02 01:30 EST",
    ]),
])
def test_given_a_daily_schedule_when_the_clock_changes_then_no_day_is_skipped_or_doubled(
        zone, start, expected):
    schedule = make("daily", wall(start), zone=zone)
    assert upcoming(schedule, instant(start, zone) - dt.timedelta(minutes=1), 4)[:len(expected)] \
        == expected


def test_given_a_start_at_a_time_the_clocks_skip_then_it_is_refused():
    """02:30 on the spring-forward day does not exist in Paris: kept as an instant it would
    read 03:30 once saved, and the schedule's time of day would move. It is refused; the same
    time a day earlier is fine, and its run that day is at 03:30 CEST."""
    with pytest.raises(ScheduleInvalid) as refused:
        make("daily", wall("2026-03-29 02:30"), zone=PARIS)
    assert refused.value.field == "start"
    assert "2026-03-29 02:30 does not exist in Europe/Paris" in str(refused.value)
    schedule = make("daily", wall("2026-03-28 02:30"), zone=PARIS)
    assert upcoming(schedule, instant("2026-03-01 00:00"), 3) == [
        "2026-03-28 02:30 CET", "2026-03-29 03:30 CEST", "2026-03-30 02:30 CEST",
    ]


@pytest.mark.parametrize(("start", "expected"), [
    ("2028-02-27 02:00", ["2028-02-27 02:00 CET", "2028-02-28 02:00 CET", "2028-02-29 02:00 CET",
                          "2028-03-01 02:00 CET"]),
    ("2027-02-27 02:00", ["2027-02-27 02:00 CET", "2027-02-28 02:00 CET", "2027-03-01 02:00 CET",
                          "2027-03-02 02:00 CET"]),
    ("2026-04-29 02:00", ["2026-04-29 02:00 CEST", "2026-04-30 02:00 CEST",
                          "2026-05-01 02:00 CEST", "2026-05-02 02:00 CEST"]),
    ("2026-12-30 23:59", ["2026-12-30 23:59 CET", "2026-12-31 23:59 CET", "2027-01-01 23:59 CET",
                          "2027-01-02 23:59 CET"]),
])
def test_given_a_daily_schedule_when_a_month_or_year_ends_then_it_runs_every_day(start, expected):
    schedule = make("daily", wall(start), zone=PARIS)
    assert upcoming(schedule, instant(start) - dt.timedelta(minutes=1), 4) == expected


# --- Weekly --------------------------------------------------------------------------------------


def test_given_a_weekly_schedule_on_monday_started_on_a_wednesday_then_it_runs_on_mondays():
    schedule = make("weekly", wall("2026-11-25 09:00"), weekday=0, zone=PARIS)
    assert upcoming(schedule, instant("2026-11-01 00:00"), 3) == [
        "2026-11-30 09:00 CET", "2026-12-07 09:00 CET", "2026-12-14 09:00 CET",
    ]


def test_given_a_weekly_schedule_without_a_weekday_then_it_runs_on_the_start_dates_weekday():
    schedule = make("weekly", wall("2026-11-25 09:00"), zone=PARIS)  # a Wednesday
    assert upcoming(schedule, instant("2026-11-01 00:00"), 3) == [
        "2026-11-25 09:00 CET", "2026-12-02 09:00 CET", "2026-12-09 09:00 CET",
    ]


@pytest.mark.parametrize(("start", "expected"), [
    ("2026-03-15 02:30", ["2026-03-15 02:30 CET", "2026-03-22 02:30 CET",
                          "2026-03-29 03:30 CEST", "2026-04-05 02:30 CEST"]),
    ("2026-10-18 02:30", ["2026-10-18 02:30 CEST", "2026-10-25 02:30 CEST",
                          "2026-11-01 02:30 CET", "2026-11-08 02:30 CET"]),
])
def test_given_a_weekly_schedule_on_sunday_when_the_clock_changes_then_it_runs_once_that_day(
        start, expected):
    schedule = make("weekly", wall(start), weekday=6, zone=PARIS)
    assert upcoming(schedule, instant(start) - dt.timedelta(minutes=1), 4) == expected


# --- Monthly -------------------------------------------------------------------------------------


def test_given_a_monthly_schedule_on_day_31_when_a_year_passes_then_it_ran_in_seven_months():
    """Jan, Mar, May, Jul, Aug, Oct, Dec; never moved to the 30th or the 1st."""
    schedule = make("monthly", wall("2026-01-01 02:00"), day=31, zone=PARIS)
    assert between(schedule, instant("2026-01-01 00:00"), instant("2027-01-01 00:00")) == [
        "2026-01-31 02:00 CET", "2026-03-31 02:00 CEST", "2026-05-31 02:00 CEST",
        "2026-07-31 02:00 CEST", "2026-08-31 02:00 CEST", "2026-10-31 02:00 CET",
        "2026-12-31 02:00 CET",
    ]


@pytest.mark.parametrize(("day", "year", "months"), [
    (1, 2027, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    (15, 2027, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    (28, 2027, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    (29, 2027, [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),  # not a leap year
    (29, 2028, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),  # leap year: 2028-02-29
    (30, 2028, [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    (31, 2027, [1, 3, 5, 7, 8, 10, 12]),
    (31, 2028, [1, 3, 5, 7, 8, 10, 12]),
])
def test_given_a_monthly_schedule_when_a_year_passes_then_it_ran_only_on_its_day(
        day, year, months):
    schedule = make("monthly", wall(f"{year}-01-01 10:00"), day=day, zone="UTC")
    expected = [f"{year}-{month:02d}-{day:02d} 10:00 UTC" for month in months]
    assert between(schedule, instant(f"{year}-01-01 00:00", "UTC"),
                   instant(f"{year + 1}-01-01 00:00", "UTC")) == expected


def test_given_a_monthly_schedule_on_day_29_when_february_comes_then_it_runs_only_in_leap_years():
    schedule = make("monthly", wall("2027-01-01 02:00"), day=29, zone=PARIS)
    assert upcoming(schedule, instant("2027-01-15 00:00"), 3) == [
        "2027-01-29 02:00 CET", "2027-03-29 02:00 CEST", "2027-04-29 02:00 CEST",
    ]
    assert upcoming(schedule, instant("2028-01-15 00:00"), 3) == [
        "2028-01-29 02:00 CET", "2028-02-29 02:00 CET", "2028-03-29 02:00 CEST",
    ]


def test_given_a_monthly_schedule_without_a_day_then_it_runs_on_the_start_dates_day():
    schedule = make("monthly", wall("2026-11-25 02:00"), zone=PARIS)
    assert upcoming(schedule, instant("2026-11-01 00:00"), 3) == [
        "2026-11-25 02:00 CET", "2026-12-25 02:00 CET", "2027-01-25 02:00 CET",
    ]


def test_given_a_monthly_schedule_whose_day_is_before_the_start_day_then_it_begins_next_month():
    schedule = make("monthly", wall("2026-11-25 02:00"), day=10, zone=PARIS)
    assert upcoming(schedule, instant("2026-11-01 00:00"), 2) == [
        "2026-12-10 02:00 CET", "2027-01-10 02:00 CET",
    ]


# --- The start a late trigger belongs to ---------------------------------------------------------

@pytest.mark.parametrize(("kind", "start", "options", "now", "expected"), [
    # Hourly at :05, now 10:47 -> 10:05.
    ("hourly", "2026-11-25 00:05", {}, "2026-11-26 10:47", "2026-11-26 10:05 CET"),
    ("hourly", "2026-11-25 00:05", {}, "2026-11-26 10:05", "2026-11-26 10:05 CET"),
    ("hourly", "2026-11-25 00:05", {}, "2026-11-26 10:04", "2026-11-26 09:05 CET"),
    ("hourly", "2026-11-25 00:05", {}, "2026-11-25 00:05", "2026-11-25 00:05 CET"),
    ("hourly", "2026-11-25 00:05", {}, "2026-11-25 00:04", None),
    # Daily at 02:00, now 09:14 -> today's 02:00; before 02:00 -> yesterday's.
    ("daily", "2026-11-25 02:00", {}, "2026-12-03 09:14", "2026-12-03 02:00 CET"),
    ("daily", "2026-11-25 02:00", {}, "2026-12-03 01:59", "2026-12-02 02:00 CET"),
    ("daily", "2026-11-25 02:00", {}, "2026-11-25 02:00", "2026-11-25 02:00 CET"),
    ("daily", "2026-11-25 02:00", {}, "2026-11-25 01:59", None),
    ("daily", "2026-11-25 02:00", {}, "2026-11-01 12:00", None),
    # Daily at a time the clock skipped: that day's start was 03:30 CEST.
    ("daily", "2026-03-01 02:30", {}, "2026-03-29 03:45", "2026-03-29 03:30 CEST"),
    ("daily", "2026-03-01 02:30", {}, "2026-03-29 03:29", "2026-03-28 02:30 CET"),
    # One Time: nothing before it, its start once passed, for ever after.
    ("once", "2026-11-25 02:00", {}, "2026-11-25 01:59", None),
    ("once", "2026-11-25 02:00", {}, "2026-11-25 02:00", "2026-11-25 02:00 CET"),
    ("once", "2026-11-25 02:00", {}, "2027-06-01 12:00", "2026-11-25 02:00 CET"),
    # Weekly on Monday, started on a Wednesday: nothing before the first Monday.
    ("weekly", "2026-11-25 09:00", {"weekday": 0}, "2026-11-27 12:00", None),
    ("weekly", "2026-11-25 09:00", {"weekday": 0}, "2026-12-03 12:00", "2026-11-30 09:00 CET"),
    ("weekly", "2026-11-25 09:00", {"weekday": 0}, "2026-12-07 08:59", "2026-11-30 09:00 CET"),
    # Monthly.
    ("monthly", "2026-01-01 02:00", {"day": 15}, "2026-05-20 12:00", "2026-05-15 02:00 CEST"),
    ("monthly", "2026-01-01 02:00", {"day": 15}, "2026-05-15 01:00", "2026-04-15 02:00 CEST"),
    ("monthly", "2026-01-01 02:00", {"day": 31}, "2026-04-15 12:00", "2026-03-31 02:00 CEST"),
    ("monthly", "2026-01-01 02:00", {"day": 31}, "2026-01-20 12:00", None),
    pytest.param("monthly", "2026-01-01 02:00", {"day": 31}, "2026-05-15 12:00",
                 "2026-03-31 02:00 CEST",
                 id="monthly-31-six-weeks-after-march-31"),
    pytest.param("monthly", "2026-01-01 02:00", {"day": 31}, "2026-05-31 01:00",
                 "2026-03-31 02:00 CEST",
                 id="monthly-31-an-hour-before-may-31"),
    pytest.param("monthly", "2026-01-01 02:00", {"day": 30}, "2026-03-15 12:00",
                 "2026-01-30 02:00 CET",
                 id="monthly-30-mid-march"),
    pytest.param("monthly", "2027-01-01 02:00", {"day": 29}, "2027-03-10 12:00",
                 "2027-01-29 02:00 CET",
                 id="monthly-29-march-of-a-common-year"),
])
def test_given_a_late_trigger_when_it_asks_for_its_slot_then_it_gets_the_most_recent_start(
        kind, start, options, now, expected):
    schedule = make(kind, wall(start), zone=PARIS, **options)
    assert local(latest_start(schedule, instant(now))) == expected


def test_given_an_hourly_schedule_when_triggered_late_in_a_repeated_hour_then_it_gets_that_one():
    schedule = make("hourly", wall("2026-10-24 00:15"), zone=PARIS)
    # 00:40 UTC is 02:40 CEST, 01:40 UTC is 02:40 CET (the second time round)
    first, second = (dt.datetime(2026, 10, 25, h, 40, tzinfo=UTC) for h in (0, 1))
    assert local(latest_start(schedule, first)) == "2026-10-25 02:15 CEST"
    assert local(latest_start(schedule, second)) == "2026-10-25 02:15 CET"


# --- In words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "start", "options", "words"), [
    ("none", None, {}, "Never"),
    ("once", wall("2026-11-25 02:00"), {}, "Once on 2026-11-25 at 02:00 Europe/Paris"),
    ("hourly", wall("2026-11-25 02:15"), {}, "Hourly at :15 from 2026-11-25 02:15 Europe/Paris"),
    ("daily", wall("2026-11-25 02:00"), {}, "Daily at 02:00 Europe/Paris from 2026-11-25"),
    ("daily", wall("2026-11-25 02:00:59"), {}, "Daily at 02:00 Europe/Paris from 2026-11-25"),
    # a start kept as a UTC instant is described in the schedule's zone
    ("daily", dt.datetime(2026, 11, 25, 1, 0, tzinfo=UTC), {},
     "Daily at 02:00 Europe/Paris from 2026-11-25"),
    ("daily", dt.datetime(2026, 11, 24, 23, 30, tzinfo=UTC), {},
     "Daily at 00:30 Europe/Paris from 2026-11-25"),
    ("weekly", wall("2026-11-25 02:00"), {},
     "Weekly on Wednesday at 02:00 Europe/Paris from 2026-11-25"),
    ("weekly", wall("2026-11-25 02:00"), {"weekday": 0},
     "Weekly on Monday at 02:00 Europe/Paris from 2026-11-25"),
    ("weekly", wall("2026-11-25 02:00"), {"weekday": 6},
     "Weekly on Sunday at 02:00 Europe/Paris from 2026-11-25"),
    ("monthly", wall("2026-11-25 02:00"), {},
     "Monthly on day 25 at 02:00 Europe/Paris from 2026-11-25"),
    ("monthly", wall("2026-11-25 02:00"), {"day": 1},
     "Monthly on day 1 at 02:00 Europe/Paris from 2026-11-25"),
    ("monthly", wall("2026-11-25 02:00"), {"day": 28},
     "Monthly on day 28 at 02:00 Europe/Paris from 2026-11-25"),
    ("monthly", wall("2026-11-25 02:00"), {"day": 29},
     "Monthly on day 29 at 02:00 Europe/Paris from 2026-11-25 (not in months without that day)"),
    ("monthly", wall("2026-11-25 02:00"), {"day": 31},
     "Monthly on day 31 at 02:00 Europe/Paris from 2026-11-25 (not in months without that day)"),
])
def test_given_a_schedule_when_the_configurations_screen_shows_it_then_it_reads(
        kind, start, options, words):
    assert describe(make(kind, start, zone=PARIS, **options)) == words


def test_given_a_schedule_in_utc_when_shown_then_the_zone_is_utc():
    assert describe(make("daily", wall("2026-11-25 10:00"))) == "Daily at 10:00 UTC from 2026-11-25"


# --- Two schedules in the same minute ------------------------------------------------------------


def paris(kind, start, **options):
    return make(kind, wall(start), zone=PARIS, **options)


SAME_MINUTE = [
    # The examples.
    pytest.param(paris("hourly", "2026-11-25 00:00"), paris("daily", "2026-11-25 10:00"), True,
                 id="hourly-at-00-vs-daily-10:00"),
    pytest.param(paris("hourly", "2026-11-25 00:05"), paris("daily", "2026-11-25 10:00"), False,
                 id="hourly-at-05-vs-daily-10:00"),
    pytest.param(paris("daily", "2026-11-25 10:00"), paris("daily", "2027-01-10 10:00"), True,
                 id="daily-10:00-vs-daily-10:00-other-start-date"),
    pytest.param(paris("weekly", "2026-11-25 09:00", weekday=0),
                 paris("weekly", "2026-11-25 09:00", weekday=1), False,
                 id="weekly-monday-vs-weekly-tuesday"),
    pytest.param(paris("weekly", "2026-11-25 09:00", weekday=0),
                 paris("monthly", "2026-11-25 09:00", day=15), True,
                 id="weekly-monday-vs-monthly-15-same-time"),
    pytest.param(paris("monthly", "2026-11-25 09:00", day=15),
                 paris("monthly", "2026-11-25 09:00", day=16), False,
                 id="monthly-15-vs-monthly-16"),
    pytest.param(paris("once", "2026-12-01 10:00"), paris("daily", "2026-11-25 10:00"), True,
                 id="once-on-a-daily-minute"),
    pytest.param(paris("once", "2026-12-01 10:01"), paris("daily", "2026-11-25 10:00"), False,
                 id="once-a-minute-after-a-daily-start"),
    pytest.param(paris("once", "2026-12-01 09:59"), paris("daily", "2026-11-25 10:00"), False,
                 id="once-a-minute-before-a-daily-start"),
    pytest.param(paris("once", "2026-11-20 10:00"), paris("daily", "2026-11-25 10:00"), False,
                 id="once-before-the-daily-first-start"),
    pytest.param(make("none", None, zone=PARIS), paris("daily", "2026-11-25 10:00"), False,
                 id="none-vs-daily"),
    pytest.param(make("none", None, zone=PARIS), paris("hourly", "2026-11-25 10:00"), False,
                 id="none-vs-hourly"),
    pytest.param(make("none", None, zone=PARIS), paris("once", "2026-11-25 10:00"), False,
                 id="none-vs-once"),
    pytest.param(make("none", None, zone=PARIS), make("none", None, zone=PARIS), False,
                 id="none-vs-none"),
    # More of the table.
    pytest.param(paris("daily", "2026-11-25 10:00"), paris("daily", "2026-11-25 10:01"), False,
                 id="daily-10:00-vs-daily-10:01"),
    pytest.param(paris("daily", "2026-11-25 10:00"), paris("daily", "2026-11-25 11:00"), False,
                 id="daily-10:00-vs-daily-11:00"),
    pytest.param(paris("hourly", "2026-11-25 00:15"), paris("hourly", "2027-03-01 13:15"), True,
                 id="hourly-at-15-vs-hourly-at-15"),
    pytest.param(paris("hourly", "2026-11-25 00:15"), paris("hourly", "2026-11-25 00:45"), False,
                 id="hourly-at-15-vs-hourly-at-45"),
    pytest.param(paris("hourly", "2026-11-25 00:30"), paris("weekly", "2026-11-25 17:30"), True,
                 id="hourly-at-30-vs-weekly-17:30"),
    pytest.param(paris("hourly", "2026-11-25 00:30"), paris("monthly", "2026-11-25 17:31"),
                 False, id="hourly-at-30-vs-monthly-17:31"),
    pytest.param(paris("weekly", "2026-11-25 09:00", weekday=0),
                 paris("weekly", "2027-02-01 09:00", weekday=0), True,
                 id="weekly-monday-vs-weekly-monday"),
    pytest.param(paris("weekly", "2026-11-25 09:00", weekday=0),
                 paris("weekly", "2026-11-25 10:00", weekday=0), False,
                 id="weekly-monday-09:00-vs-weekly-monday-10:00"),
    pytest.param(paris("weekly", "2026-11-25 09:00", weekday=3),
                 paris("daily", "2026-11-25 09:00"), True, id="weekly-vs-daily-same-time"),
    pytest.param(paris("weekly", "2026-11-25 09:00", weekday=6),
                 paris("monthly", "2026-11-25 09:00", day=31), True,
                 id="weekly-sunday-vs-monthly-31-same-time"),
    pytest.param(paris("weekly", "2026-11-25 09:00", weekday=0),
                 paris("monthly", "2026-11-25 09:30", day=15), False,
                 id="weekly-vs-monthly-other-minute"),
    pytest.param(paris("monthly", "2026-11-25 09:00", day=15),
                 paris("monthly", "2027-04-01 09:00", day=15), True,
                 id="monthly-15-vs-monthly-15"),
    pytest.param(paris("monthly", "2026-11-25 09:00", day=31),
                 paris("daily", "2026-11-25 09:00"), True, id="monthly-31-vs-daily-same-time"),
    pytest.param(paris("once", "2026-11-25 17:05"), paris("hourly", "2026-11-25 00:05"), True,
                 id="once-on-an-hourly-minute"),
    pytest.param(paris("once", "2026-11-30 09:00"), paris("weekly", "2026-11-25 09:00",
                                                          weekday=0), True,
                 id="once-on-a-monday-vs-weekly-monday"),
    pytest.param(paris("once", "2026-12-01 09:00"), paris("weekly", "2026-11-25 09:00",
                                                          weekday=0), False,
                 id="once-on-a-tuesday-vs-weekly-monday"),
    pytest.param(paris("once", "2026-12-31 09:00"), paris("monthly", "2026-11-25 09:00",
                                                          day=31), True,
                 id="once-on-dec-31-vs-monthly-31"),
    pytest.param(paris("once", "2026-12-30 09:00"), paris("monthly", "2026-11-25 09:00",
                                                          day=31), False,
                 id="once-on-dec-30-vs-monthly-31"),
    pytest.param(paris("once", "2026-11-25 10:00"), paris("once", "2026-11-25 10:00"), True,
                 id="once-vs-once-same-minute"),
    pytest.param(paris("once", "2026-11-25 10:00"), paris("once", "2026-11-26 10:00"), False,
                 id="once-vs-once-other-day"),
    # Daylight saving: a one-time start meets whatever actually starts in its minute.
    pytest.param(paris("once", "2026-03-29 03:30"), paris("daily", "2026-03-01 02:30"), True,
                 id="once-03:30-cest-vs-daily-02:30-on-spring-forward-day"),
    pytest.param(paris("once", "2026-10-25 02:30"), paris("daily", "2026-10-01 02:30"), True,
                 id="once-first-02:30-vs-daily-02:30-on-fall-back-day"),
    pytest.param(make("once", wall("2026-10-25 02:30", fold=1), zone=PARIS),
                 paris("daily", "2026-10-01 02:30"), False,
                 id="once-second-02:30-vs-daily-02:30-on-fall-back-day"),
    pytest.param(paris("daily", "2026-01-01 02:30"), paris("daily", "2026-01-01 03:30"), True,
                 id="daily-02:30-vs-daily-03:30-meet-on-spring-forward-day"),
    pytest.param(paris("weekly", "2026-01-01 02:30", weekday=6),
                 paris("monthly", "2026-01-01 03:30", day=29), True,
                 id="weekly-sunday-02:30-vs-monthly-29-03:30-meet-on-2026-03-29"),
]


@pytest.mark.parametrize("swap", [False, True], ids=["a-b", "b-a"])
@pytest.mark.parametrize(("a", "b", "meet"), SAME_MINUTE)
def test_given_two_schedules_when_saved_then_a_shared_start_minute_is_found(a, b, meet, swap):
    if swap:
        a, b = b, a
    assert share_a_minute(a, b) is meet


def test_given_daily_02_30_and_daily_03_30_when_spring_forward_comes_then_both_start_together():
    """The instants behind the spring-forward cases above: the rules make them meet."""
    early, late = paris("daily", "2026-01-01 02:30"), paris("daily", "2026-01-01 03:30")
    after = instant("2026-03-29 00:00")
    assert upcoming(early, after, 1) == upcoming(late, after, 1) == ["2026-03-29 03:30 CEST"]
    assert next_start(early, after) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
