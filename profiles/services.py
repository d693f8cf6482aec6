"""Adding, editing, checking and deleting synchronization profiles, with their schedules.

A profile's fields travel as a dict keyed by the model's field names (FIELDS). `validate`
returns every mistake keyed by field, in the manual's words; `save_profile` adds or edits a
profile and its beat entry in one transaction, or raises ProfileInvalid and changes nothing.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from esync_site.refusal import Refusal
from esync_site.whole_numbers import whole_number
from profiles import beat_entries, schedules
from profiles.models import Profile
from relationships import announcements
from syncengine import runs
from syncengine.file_rules import FilterRefused, parse_extensions

FIELDS = ("name", "items", "filter_mode", "filter_extensions", "direction", "policy",
          "schedule", "schedule_start", "schedule_weekday", "schedule_day")
DEFAULTS = {"filter_mode": "none", "filter_extensions": "", "policy": Profile.Policy.REMOTE_WINS,
            "schedule": "none", "schedule_start": None, "schedule_weekday": None,
            "schedule_day": None}


class ProfileInvalid(Refusal):
    """The profile's fields do not hold together; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def fields_of(profile: Profile) -> dict:
    return {name: getattr(profile, name) for name in FIELDS}


def validate(relationship, fields: dict, profile: Profile | None = None,
             now: dt.datetime | None = None) -> dict[str, str]:
    """Every mistake in `fields` (see FIELDS), keyed by field; empty when they make a profile.
    Filter mistakes are keyed "filter", schedule ones by the schedule field at fault."""
    fields = {**DEFAULTS, **fields}
    errors: dict[str, str] = {}
    name = (fields.get("name") or "").strip()
    if not name:
        errors["name"] = "Enter a synchronization name."
    elif relationship.profiles.filter(name=name).exclude(
            id=getattr(profile, "id", None)).exists():
        errors["name"] = f"This relationship already has a profile named {name!r}."
    items = fields.get("items") or []
    known = set(Profile.Item.values)
    if not items:
        errors["items"] = "Choose at least one item to synchronize."
    elif set(items) - known:
        errors["items"] = "Unknown items: " + ", ".join(sorted(set(items) - known)) + "."
    elif "bin" in items and "templates" not in items:
        errors["items"] = "bin (precompiled sites) is part of Templates: tick Templates too."
    if fields["filter_mode"] not in ("none", "include", "exclude"):
        errors["filter"] = "Choose No Filter, Only Include or Exclude."
    elif fields["filter_mode"] != "none":
        try:
            parse_extensions(fields["filter_extensions"])
        except FilterRefused as error:
            errors["filter"] = str(error)
    if fields.get("direction") not in Profile.Direction.values:
        errors["direction"] = "Choose Bidirectional, Upload or Download."
    if fields.get("policy") not in Profile.Policy.values:
        errors["policy"] = "Choose which version wins a conflict."
    errors.update(_schedule_errors(fields, profile, now or timezone.now()))
    return errors


def _schedule_errors(fields: dict, profile: Profile | None, now: dt.datetime) -> dict[str, str]:
    kind = fields["schedule"]
    if kind == "weekly" and fields["schedule_weekday"] is None:
        return {"schedule_weekday": "Choose the day of the week it runs on."}
    if kind == "monthly" and fields["schedule_day"] is None:
        return {"schedule_day": "Enter the day of the month it runs on (1-31)."}
    try:
        rule = schedules.make(kind, fields["schedule_start"], fields["schedule_weekday"],
                              fields["schedule_day"], settings.ESYNC.time_zone)
    except schedules.ScheduleInvalid as error:
        return {f"schedule_{error.field}" if error.field != "schedule" else "schedule":
                str(error)}
    if rule.kind == "once" and rule.first_start < now:
        if profile is not None and profile.schedule == "once" and \
                profile.schedule_rule.first_start == rule.first_start:
            return {}  # a One Time start that has passed, kept as it was: nothing to check
        return {"schedule_start": "This time has passed: a One Time schedule needs a start in "
                                  "the future."}
    clash = same_minute_profile(rule, profile, now)
    if clash is not None:
        return {"schedule": (
            f"The profile {clash.name!r} ({clash.schedule_in_words}) would start in the same "
            "minute: only one sync may begin at a time. Choose another time.")}
    return {}


def same_minute_profile(rule: schedules.Schedule, profile: Profile | None,
                        now: dt.datetime) -> Profile | None:
    """Another scheduled profile on this instance that would ever start in the same minute
    (a One Time start already past will not start again)."""
    others = Profile.objects.exclude(schedule="none").exclude(id=getattr(profile, "id", None))
    for other in others.order_by("id"):
        other_rule = other.schedule_rule
        if other_rule.kind == "once" and other_rule.first_start < now:
            continue
        if schedules.share_a_minute(rule, other_rule):
            return other
    return None


def save_profile(relationship, fields: dict, profile: Profile | None = None) -> Profile:
    """Add a profile (or, given `profile`, change it) and its beat entry; ProfileInvalid and
    nothing changed if the fields do not hold together."""
    fields = {**DEFAULTS, **(fields_of(profile) if profile else {}), **fields}
    # Checked and saved under the run lock: two administrators saving schedules at once
    # cannot both take the same minute.
    with runs.exclusive():
        errors = validate(relationship, fields, profile)
        if errors:
            raise ProfileInvalid(errors)
        rule = schedules.make(fields["schedule"], fields["schedule_start"],
                              fields["schedule_weekday"], fields["schedule_day"],
                              settings.ESYNC.time_zone)
        values = {**{name: fields[name] for name in FIELDS}, "name": fields["name"].strip(),
                  "filter_extensions": fields["filter_extensions"]
                  if fields["filter_mode"] != "none" else "",
                  "schedule_start": rule.start, "schedule_weekday": rule.weekday,
                  "schedule_day": rule.day}
        profile = _save(relationship, profile, values)
    # The peer's record of what this relationship may write there (outside the run lock).
    announcements.announce_quietly(relationship)
    return profile


def _save(relationship, profile: Profile | None, values: dict) -> Profile:
    with transaction.atomic():
        if profile is None:
            profile = Profile.objects.create(relationship=relationship, **values)
        else:
            for name, value in values.items():
                setattr(profile, name, value)
            profile.save()
        beat_entries.save_entry(profile)
    return profile


def add_profile(relationship, name: str, items: list[str], direction: str,
                policy: str = Profile.Policy.REMOTE_WINS, filter_mode: str = "none",
                filter_extensions: str = "") -> Profile:
    return save_profile(relationship, {
        "name": name, "items": items, "direction": direction, "policy": policy,
        "filter_mode": filter_mode, "filter_extensions": filter_extensions})


def delete_profile(profile: Profile) -> None:
    """The profile and (profiles.apps) its beat entry go; its run logs stay."""
    relationship = profile.relationship
    with transaction.atomic():
        profile.delete()
    announcements.announce_quietly(relationship)


def find_profile(key: str) -> Profile:
    number = whole_number(key)
    matches = list(Profile.objects.filter(name=key)) or (
        [] if number is None else list(Profile.objects.filter(id=number)))
    if len(matches) != 1:
        raise Refusal(f"No single profile matches {key!r} ({len(matches)} do); see "
                      "`esync profile list`.")
    return matches[0]


def describe(profile: Profile) -> dict:
    return {"id": profile.id, "name": profile.name, "relationship": profile.relationship_id,
            "remote_name": profile.relationship.remote_name, "items": profile.items,
            "filter": profile.filter_mode, "extensions": profile.filter_extensions,
            "direction": profile.direction, "policy": profile.policy,
            "schedule": profile.schedule,
            "schedule_start": profile.schedule_start.isoformat()
            if profile.schedule_start else None,
            "schedule_weekday": profile.schedule_weekday, "schedule_day": profile.schedule_day,
            "schedule_in_words": profile.schedule_in_words}
