"""Add/Edit Synchronization Profile with a schedule, its beat entry, and the scheduled run's
rules: one run per start, late runs say why, a busy instance queues them (in process; the
real beat and workers are in test_scheduled_runs)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from profiles.beat_entries import entry_name
from profiles.models import Profile
from profiles.scheduled_runs import start_scheduled_run
from profiles.services import ProfileInvalid, save_profile
from syncengine import runs
from syncengine.models import SyncRun
from tests.test_profile_form import a_relationship, field_block

pytestmark = pytest.mark.django_db

UTC = dt.UTC
VALID = {"name": "Nightly", "items": ["database"], "filter_mode": "none",
         "filter_extensions": "", "direction": "upload", "policy": "remote-wins",
         "schedule": "none"}


@pytest.fixture
def paris(settings):
    settings.ESYNC = dataclasses.replace(settings.ESYNC, time_zone="Europe/Paris")
    return "Europe/Paris"


def entry_of(profile: Profile) -> PeriodicTask:
    return PeriodicTask.objects.select_related("crontab", "clocked").get(
        name=entry_name(profile.id))


def test_given_the_form_when_a_weekly_schedule_is_saved_then_beat_has_it_and_the_screen_says_it(
        client, sync_admin, paris):
    relationship = a_relationship(staged=True)
    client.force_login(sync_admin)
    form = client.get(reverse("sync:profile_add", args=[relationship.id])).content.decode()
    for label in ("Schedule", "One Time", "Hourly", "Daily", "Weekly", "Monthly",
                  "Time zone: Europe/Paris", "Local Site", "Remote Site"):
        assert label in form, label

    response = client.post(reverse("sync:profile_add", args=[relationship.id]), {
        **VALID, "schedule": "weekly", "schedule_start": "2030-01-07T02:30",
        "schedule_weekday": "2"})

    assert response.status_code == 302
    profile = Profile.objects.get(name="Nightly")
    assert (profile.schedule, profile.schedule_weekday) == ("weekly", 2)
    assert profile.schedule_start == dt.datetime(2030, 1, 7, 1, 30, tzinfo=UTC)  # 02:30 CET
    crontab = entry_of(profile).crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, str(crontab.timezone)) == (
        "30", "2", "3", "Europe/Paris")  # crontab counts Sunday as 0
    screen = client.get(reverse("sync:configurations")).content.decode()
    assert "Weekly on Wednesday at 02:30 Europe/Paris from 2030-01-07" in screen
    assert "Times in Europe/Paris" in screen


def test_editing_a_profile_rewrites_its_one_beat_entry(client, sync_admin):
    relationship = a_relationship(staged=True)
    profile = save_profile(relationship, {**VALID, "schedule": "hourly",
                                          "schedule_start": dt.datetime(2030, 1, 1, 10, 5)})
    assert entry_of(profile).crontab.minute == "5"
    client.force_login(sync_admin)
    url = reverse("sync:profile_edit", args=[profile.id])
    page = client.get(url).content.decode()
    assert "Edit Synchronization Profile" in page and 'value="Nightly"' in page

    response = client.post(url, {**VALID, "name": "Nightly", "schedule": "daily",
                                 "schedule_start": "2030-01-01T23:15"})

    assert response.status_code == 302
    entries = PeriodicTask.objects.filter(name=entry_name(profile.id))
    assert [(e.crontab.minute, e.crontab.hour) for e in entries] == [("15", "23")]
    profile.refresh_from_db()
    assert profile.schedule_in_words == "Daily at 23:15 UTC from 2030-01-01"

    client.post(url, {**VALID, "schedule": "none"})
    assert not PeriodicTask.objects.filter(name=entry_name(profile.id)).exists()
    profile.refresh_from_db()
    assert (profile.schedule, profile.schedule_start, profile.schedule_in_words) == (
        "none", None, "Never")


@pytest.mark.parametrize("changes, field, message", [
    ({"schedule": "once", "schedule_start": ""}, "schedule_start", "needs a start date"),
    ({"schedule": "once", "schedule_start": "2001-01-01T10:00"}, "schedule_start",
     "This time has passed"),
    ({"schedule": "weekly", "schedule_start": "2030-01-01T10:00"}, "schedule_weekday",
     "Choose the day of the week"),
    ({"schedule": "monthly", "schedule_start": "2030-01-01T10:00"}, "schedule_day",
     "Enter the day of the month"),
    ({"schedule": "daily", "schedule_start": "not a date"}, "schedule_start",
     "Enter a valid date/time"),
])
def test_schedule_mistakes_are_shown_next_to_their_field_and_nothing_is_saved(
        client, administrator, changes, field, message):
    relationship = a_relationship()
    client.force_login(administrator)
    response = client.post(reverse("sync:profile_add", args=[relationship.id]),
                           {**VALID, **changes})
    assert response.status_code == 200
    assert message in field_block(response.content.decode(), field)
    assert not Profile.objects.exists() and not PeriodicTask.objects.filter(
        task="esync.run_scheduled_profile").exists()


@pytest.mark.parametrize("other, clashes", [
    ({"schedule": "daily", "schedule_start": dt.datetime(2030, 1, 1, 10, 0)}, True),
    ({"schedule": "daily", "schedule_start": dt.datetime(2030, 1, 1, 10, 5)}, False),
])
def test_a_schedule_starting_in_the_same_minute_as_another_profiles_is_refused_naming_it(
        other, clashes):
    relationship = a_relationship()
    save_profile(relationship, {**VALID, "name": "Every hour", "schedule": "hourly",
                                "schedule_start": dt.datetime(2030, 1, 1, 9, 0)})
    if not clashes:
        save_profile(relationship, {**VALID, "name": "Ten", **other})
        return
    with pytest.raises(ProfileInvalid) as refused:
        save_profile(relationship, {**VALID, "name": "Ten", **other})
    assert "The profile 'Every hour' (Hourly at :00 from 2030-01-01 09:00 UTC) would start " \
           "in the same minute" in refused.value.errors["schedule"]
    assert not Profile.objects.filter(name="Ten").exists()


def test_a_profile_keeps_its_own_minute_when_edited():
    profile = save_profile(a_relationship(), {
        **VALID, "schedule": "daily", "schedule_start": dt.datetime(2030, 1, 1, 2, 0)})
    save_profile(profile.relationship, {"direction": "download"}, profile)  # no clash with itself
    assert entry_of(profile).crontab.hour == "2"


def test_deleting_a_profile_removes_its_schedule_and_keeps_its_logs(client, sync_admin):
    profile = save_profile(a_relationship(), {
        **VALID, "schedule": "daily", "schedule_start": dt.datetime(2030, 1, 1, 2, 0)})
    run = SyncRun.objects.create(kind="FullSync", relationship=profile.relationship,
                                 profile=profile, direction="upload", status="success")
    client.force_login(sync_admin)
    client.post(reverse("sync:profile_delete", args=[profile.id]))
    assert not PeriodicTask.objects.filter(name=entry_name(profile.id)).exists()
    assert SyncRun.objects.filter(id=run.id).exists()


def test_deleting_a_relationship_removes_its_profiles_schedules():
    from relationships.lifecycle import delete_relationship

    profile = save_profile(a_relationship(), {
        **VALID, "schedule": "once", "schedule_start": dt.datetime(2030, 1, 1, 2, 0)})
    assert entry_of(profile).one_off
    delete_relationship(profile.relationship)
    assert not PeriodicTask.objects.filter(name=entry_name(profile.id)).exists()


def test_a_saved_schedule_does_not_fire_for_a_start_already_past():
    profile = save_profile(a_relationship(), {
        **VALID, "schedule": "hourly", "schedule_start": dt.datetime(2020, 1, 1, 9, 17)})
    entry = entry_of(profile)
    now = timezone.now()
    assert entry.start_time is None
    # Its "last run" is the start just past: the crontab's next is the coming :17.
    assert entry.last_run_at <= now < entry.last_run_at + dt.timedelta(hours=1)
    assert entry.last_run_at.minute == 17


# -- the scheduled run ---------------------------------------------------------------------

def scheduled(kind: str = "hourly", start: dt.datetime = dt.datetime(2030, 1, 1, 9, 5,
                                                                      tzinfo=UTC)) -> Profile:
    return save_profile(a_relationship(staged=True),
                        {**VALID, "schedule": kind, "schedule_start": start})


def test_a_trigger_sent_twice_for_one_start_makes_one_run_by_the_scheduler():
    profile = scheduled()
    first = start_scheduled_run(profile.id, now=dt.datetime(2030, 1, 1, 10, 5, 1, tzinfo=UTC))
    again = start_scheduled_run(profile.id, now=dt.datetime(2030, 1, 1, 10, 7, tzinfo=UTC))
    assert again is None
    assert (first.scheduled_for, first.user_name, first.status, first.late_reason) == (
        dt.datetime(2030, 1, 1, 10, 5, tzinfo=UTC), "scheduler", "queued", "")
    nxt = start_scheduled_run(profile.id, now=dt.datetime(2030, 1, 1, 11, 5, tzinfo=UTC))
    assert nxt.scheduled_for == dt.datetime(2030, 1, 1, 11, 5, tzinfo=UTC)


def test_a_trigger_a_moment_early_still_belongs_to_its_start():
    profile = scheduled()
    run = start_scheduled_run(profile.id, now=dt.datetime(2030, 1, 1, 10, 4, 50, tzinfo=UTC))
    assert run.scheduled_for == dt.datetime(2030, 1, 1, 10, 5, tzinfo=UTC)


def test_a_start_missed_while_the_instance_was_down_runs_once_and_says_why():
    profile = scheduled("daily", dt.datetime(2030, 1, 1, 2, 0, tzinfo=UTC))
    back = dt.datetime(2030, 1, 4, 9, 14, tzinfo=UTC)  # down for three nights
    run = start_scheduled_run(profile.id, now=back)
    assert run.scheduled_for == dt.datetime(2030, 1, 4, 2, 0, tzinfo=UTC)
    assert "due at 2030-01-04 02:00" in run.late_reason
    assert "scheduler or worker was not running" in run.late_reason
    assert start_scheduled_run(profile.id, now=back + dt.timedelta(minutes=1)) is None
    assert SyncRun.objects.filter(profile=profile).count() == 1


def test_before_its_first_start_or_without_a_schedule_a_trigger_does_nothing():
    profile = scheduled()
    assert start_scheduled_run(profile.id, now=dt.datetime(2029, 12, 31, tzinfo=UTC)) is None
    assert start_scheduled_run(987654) is None
    assert not SyncRun.objects.exists()


def test_a_due_run_waits_while_another_runs_then_goes_first_in_line(monkeypatch):
    profile = scheduled()
    busy = SyncRun.objects.create(kind="FullSync", relationship=profile.relationship,
                                  direction="upload", status="running",
                                  started_at=dt.datetime(2030, 1, 1, 10, 0, tzinfo=UTC))
    due = start_scheduled_run(profile.id, now=dt.datetime(2030, 1, 1, 10, 5, 2, tzinfo=UTC))
    assert runs.claim_next("second-worker") is None  # another worker takes the trigger
    due.refresh_from_db()
    assert (due.status, due.phase) == ("queued", f"Waiting for profile sync #{busy.id} to "
                                                 "finish")
    with pytest.raises(runs.SyncAlreadyRunning), runs.exclusive():  # "Sync now" is refused
        runs.refuse_if_running()

    # Twenty minutes later the busy run ends (the clock is today's: move the runs back).
    ended = timezone.now() - dt.timedelta(seconds=5)
    SyncRun.objects.filter(id=busy.id).update(status="success", ended_at=ended)
    SyncRun.objects.filter(id=due.id).update(scheduled_for=ended - dt.timedelta(minutes=20))
    sent = []
    monkeypatch.setattr(runs, "_send", sent.append)  # what the worker would be handed
    assert runs.dispatch_next() == due.id
    assert sent == [due.id]
    claimed = runs.claim_next("second-worker")
    assert (claimed.status, claimed.claimed_by) == ("running", "second-worker")
    assert f"waited for profile sync #{busy.id} to finish" in claimed.late_reason


def test_queued_runs_start_oldest_first_one_at_a_time():
    profile = scheduled()
    older, newer = (SyncRun.objects.create(kind="FullSync", relationship=profile.relationship,
                                           direction="upload", status="queued")
                    for _ in range(2))
    assert runs.claim_next("w1").id == older.id
    assert runs.claim_next("w2") is None  # older runs: newer waits, saying for what
    newer.refresh_from_db()
    assert (newer.status, newer.phase) == ("queued", f"Waiting for profile sync #{older.id} "
                                                     "to finish")
    SyncRun.objects.filter(id=older.id).update(status="success")
    assert runs.claim_next("w2").id == newer.id


def test_one_workers_turn_runs_the_queue_through(monkeypatch):
    from syncengine import run_dispatch

    profile = scheduled()
    queued = [SyncRun.objects.create(kind="FullSync", relationship=profile.relationship,
                                     direction="upload", status="queued") for _ in range(3)]
    done = []

    def run(run):  # each "sync" ends at once
        done.append((run.id, run.claimed_by))
        SyncRun.objects.filter(id=run.id).update(status="success")

    monkeypatch.setattr(run_dispatch, "_run", run)
    run_dispatch.execute(queued[1].id, worker="w1")
    assert [run_id for run_id, _ in done] == [r.id for r in queued]
    assert {claimer.partition("#")[0] for _, claimer in done} == {"w1"}


@pytest.mark.django_db(transaction=True)  # a run's end is written outside any transaction
def test_a_starting_worker_closes_the_runs_of_dead_workers_and_never_a_live_ones():
    import os
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()  # a worker process that has exited
    relationship = a_relationship(staged=True)

    def running(claimed_by: str) -> SyncRun:
        return SyncRun.objects.create(kind="FullSync", relationship=relationship,
                                      direction="upload", status="running",
                                      claimed_by=claimed_by)

    mine_before = running(f"esync-staging@host#{gone.pid}")      # its own, before a restart
    other_dead = running(f"esync-staging-second@host#{gone.pid}")  # a worker gone for good
    same_name_alive = running(f"esync-staging@host#{os.getpid()}")  # a namesake still running
    elsewhere = running(f"esync-staging@other-host#{gone.pid}")   # another machine's
    assert runs.close_interrupted("esync-staging@host") == 2
    statuses = {r.id: r.status for r in SyncRun.objects.all()}
    assert statuses == {mine_before.id: "failed", other_dead.id: "failed",
                        same_name_alive.id: "running", elsewhere.id: "running"}


# -- the command line ----------------------------------------------------------------------

def esync(capsys, *arguments: str) -> tuple[int, str, str]:
    from esync_site.cli import main

    code = main(list(arguments))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_profile_add_edit_list_and_delete_with_schedules_from_the_command_line(capsys):
    import json

    relationship = a_relationship(staged=True)
    code, out, _ = esync(capsys, "profile", "add", str(relationship.id), "--name", "Monthly",
                         "--items", "database", "--direction", "upload", "--schedule",
                         "monthly", "--start", "2030-01-31T02:00")
    assert code == 0, out
    assert "Monthly on day 31 at 02:00 UTC from 2030-01-31 (not in months without that day)" \
        in out
    assert entry_of(Profile.objects.get(name="Monthly")).crontab.day_of_month == "31"

    code, out, err = esync(capsys, "profile", "add", str(relationship.id), "--name", "Clash",
                           "--items", "database", "--direction", "upload", "--schedule",
                           "weekly", "--start", "2030-01-01T02:00")
    assert code == 3 and "The profile 'Monthly'" in err and "same minute" in err
    assert not Profile.objects.filter(name="Clash").exists()

    code, out, _ = esync(capsys, "profile", "edit", "Monthly", "--schedule", "weekly",
                         "--start", "2030-01-01T02:00")  # a Tuesday: its weekday by default
    assert code == 0 and "Weekly on Tuesday at 02:00 UTC" in out
    code, out, _ = esync(capsys, "profile", "edit", "Monthly", "--weekday", "4")
    assert code == 0 and "Weekly on Friday at 02:00 UTC" in out

    code, out, _ = esync(capsys, "profile", "list", "--json")
    [listed] = json.loads(out)
    assert (listed["schedule"], listed["schedule_weekday"], listed["schedule_in_words"]) == (
        "weekly", 4, "Weekly on Friday at 02:00 UTC from 2030-01-01")

    code, out, err = esync(capsys, "profile", "edit", "Monthly", "--start", "next tuesday")
    assert code == 3 and "is not a date and time" in err

    code, out, _ = esync(capsys, "profile", "edit", "Monthly", "--schedule", "none")
    assert code == 0 and "schedule: Never" in out
    assert not PeriodicTask.objects.filter(task="esync.run_scheduled_profile").exists()

    code, out, _ = esync(capsys, "profile", "delete", "Monthly", "--yes")
    assert code == 0 and not Profile.objects.exists()


# -- beat's entries follow the rules ---------------------------------------------------------

def fired_by_beat(profile: Profile, since: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """When beat would send the profile's entry between `since` and `until`, the entry saved
    at `since`: its schedule asked as beat asks it (is_due from the entry's last run, then
    sleep as long as it says)."""
    from profiles.beat_entries import save_entry

    save_entry(profile, now=since)
    entry = entry_of(profile)
    schedule = entry.schedule
    clock = [since]
    schedule.nowfun = schedule.nowfunc = lambda: clock[0].astimezone(schedule.tz)
    last, fired = entry.last_run_at, []
    while clock[0] < until:
        due, wait = schedule.is_due(last)
        if due:
            fired.append(clock[0].replace(microsecond=0))
            last = clock[0]
        clock[0] += dt.timedelta(seconds=max(1.0, min(wait, 300.0)))
    return fired


@pytest.mark.parametrize("kind, start, options, since, until", [
    ("daily", dt.datetime(2026, 3, 1, 2, 30), {}, (2026, 3, 27), (2026, 3, 31)),
    # saved the evening before the clocks jump: the skipped 02:30 still runs, at 03:30
    ("daily", dt.datetime(2026, 3, 1, 2, 30), {}, (2026, 3, 28, 20), (2026, 4, 1)),
    ("daily", dt.datetime(2026, 10, 1, 2, 30), {}, (2026, 10, 23), (2026, 10, 28)),
    ("hourly", dt.datetime(2026, 3, 1, 0, 15), {}, (2026, 3, 28, 22), (2026, 3, 29, 4)),
    ("hourly", dt.datetime(2026, 10, 1, 0, 15), {}, (2026, 10, 24, 22), (2026, 10, 25, 4)),
    ("weekly", dt.datetime(2026, 3, 1, 2, 30), {"schedule_weekday": 6}, (2026, 3, 20),
     (2026, 4, 10)),
    ("monthly", dt.datetime(2026, 1, 31, 6, 0), {"schedule_day": 31}, (2026, 1, 2),
     (2026, 8, 2)),
])
def test_beat_sends_a_schedule_exactly_at_the_starts_its_rules_give_across_clock_changes(
        paris, kind, start, options, since, until):
    from profiles import schedules

    since = dt.datetime(*since, tzinfo=UTC)
    until = dt.datetime(*until, tzinfo=UTC)
    profile = save_profile(a_relationship(), {**VALID, "schedule": kind,
                                              "schedule_start": start, **options})
    expected = [at for at in schedules.next_starts(profile.schedule_rule, since, 400)
                if at < until]
    # Beat fires within its tick of the start; compare to the minute.
    fired = [at.replace(second=0) for at in fired_by_beat(profile, since, until)]
    assert fired == expected
    assert len(expected) >= 3


def test_a_schedule_reads_back_from_the_database_as_it_was_typed(paris):
    profile = save_profile(a_relationship(), {
        **VALID, "schedule": "daily", "schedule_start": dt.datetime(2026, 3, 28, 2, 30)})
    profile = Profile.objects.get(id=profile.id)
    assert profile.schedule_in_words == "Daily at 02:30 Europe/Paris from 2026-03-28"
    crontab = entry_of(profile).crontab
    assert (crontab.hour, crontab.minute) == ("2", "30")
    with pytest.raises(ProfileInvalid) as refused:  # a time the clocks skip
        save_profile(profile.relationship, {"schedule_start": dt.datetime(2026, 3, 29, 2, 30)},
                     profile)
    assert "does not exist in Europe/Paris" in refused.value.errors["schedule_start"]


def test_after_its_one_time_start_has_passed_a_profile_can_still_be_edited(monkeypatch):
    from profiles import services

    profile = save_profile(a_relationship(), {
        **VALID, "schedule": "once", "schedule_start": dt.datetime(2030, 1, 1, 10, 0)})
    later = dt.datetime(2030, 1, 2, tzinfo=UTC)
    monkeypatch.setattr(services.timezone, "now", lambda: later)
    from profiles import beat_entries

    monkeypatch.setattr(beat_entries.timezone, "now", lambda: later)
    save_profile(profile.relationship, {"direction": "download"}, profile)  # start kept: fine
    profile.refresh_from_db()
    assert (profile.direction, profile.schedule) == ("download", "once")
    assert not PeriodicTask.objects.filter(name=entry_name(profile.id)).exists()  # it fired
    # ...its minute is free again for others; a new past start is still refused.
    save_profile(profile.relationship, {**VALID, "name": "Ten daily", "schedule": "daily",
                                        "schedule_start": dt.datetime(2030, 1, 5, 10, 0)})
    with pytest.raises(ProfileInvalid) as refused:
        save_profile(profile.relationship,
                     {"schedule_start": dt.datetime(2030, 1, 1, 11, 0)}, profile)
    assert "This time has passed" in refused.value.errors["schedule_start"]


def test_when_the_time_zone_changes_beat_entries_follow_it_at_beats_start(settings):
    from profiles.beat_entries import rebuild_entries_for_time_zone

    daily = save_profile(a_relationship(), {
        **VALID, "schedule": "daily", "schedule_start": dt.datetime(2030, 1, 1, 2, 0)})
    hourly = save_profile(daily.relationship, {
        **VALID, "name": "Hourly", "schedule": "hourly",
        "schedule_start": dt.datetime(2030, 1, 1, 0, 15)})
    assert rebuild_entries_for_time_zone() == 0
    settings.ESYNC = dataclasses.replace(settings.ESYNC, time_zone="America/New_York")
    assert rebuild_entries_for_time_zone() == 1
    crontab = entry_of(daily).crontab
    # The start is an instant: 02:00 UTC is 21:00 the evening before in New York.
    assert (str(crontab.timezone), crontab.hour, crontab.minute) == (
        "America/New_York", "21", "0")
    assert entry_of(hourly).crontab.minute == "15"
