"""Adding and checking synchronization profiles (the basic form; schedules come later)."""

from __future__ import annotations

from django.db import transaction

from esync_site.refusal import Refusal
from profiles.models import Profile
from syncengine.file_rules import FilterRefused, parse_extensions


class ProfileInvalid(Refusal):
    """The profile's fields do not hold together; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def validate(relationship, name: str, items: list[str], filter_mode: str,
             filter_extensions: str, direction: str, policy: str,
             profile: Profile | None = None) -> dict[str, str]:
    errors: dict[str, str] = {}
    name = name.strip()
    if not name:
        errors["name"] = "Enter a synchronization name."
    elif relationship.profiles.filter(name=name).exclude(
            id=getattr(profile, "id", None)).exists():
        errors["name"] = f"This relationship already has a profile named {name!r}."
    known = set(Profile.Item.values)
    if not items:
        errors["items"] = "Choose at least one item to synchronize."
    elif set(items) - known:
        errors["items"] = "Unknown items: " + ", ".join(sorted(set(items) - known)) + "."
    elif "bin" in items and "templates" not in items:
        errors["items"] = "bin (precompiled sites) is part of Templates: tick Templates too."
    if filter_mode not in ("none", "include", "exclude"):
        errors["filter"] = "Choose No Filter, Only Include or Exclude."
    elif filter_mode != "none":
        try:
            parse_extensions(filter_extensions)
        except FilterRefused as error:
            errors["filter"] = str(error)
    if direction not in Profile.Direction.values:
        errors["direction"] = "Choose Bidirectional, Upload or Download."
    if policy not in Profile.Policy.values:
        errors["policy"] = "Choose which version wins a conflict."
    return errors


def add_profile(relationship, name: str, items: list[str], direction: str,
                policy: str = Profile.Policy.REMOTE_WINS, filter_mode: str = "none",
                filter_extensions: str = "") -> Profile:
    errors = validate(relationship, name, items, filter_mode, filter_extensions, direction,
                      policy)
    if errors:
        raise ProfileInvalid(errors)
    with transaction.atomic():
        return Profile.objects.create(
            relationship=relationship, name=name.strip(), items=items, direction=direction,
            policy=policy, filter_mode=filter_mode,
            filter_extensions=filter_extensions if filter_mode != "none" else "")


def find_profile(key: str) -> Profile:
    matches = list(Profile.objects.filter(name=key)) or (
        list(Profile.objects.filter(id=int(key))) if key.isdigit() else [])
    if len(matches) != 1:
        raise Refusal(f"No single profile matches {key!r} ({len(matches)} do); see "
                      "`esync profile list`.")
    return matches[0]


def describe(profile: Profile) -> dict:
    return {"id": profile.id, "name": profile.name, "relationship": profile.relationship_id,
            "remote_name": profile.relationship.remote_name, "items": profile.items,
            "filter": profile.filter_mode, "extensions": profile.filter_extensions,
            "direction": profile.direction, "policy": profile.policy,
            "schedule": profile.schedule}
