"""`esync profile add | edit | delete | list`: the Add/Edit Synchronization Profile screen for
scripts."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from esync_site.cli import setup_instance

KINDS = ["none", "once", "hourly", "daily", "weekly", "monthly"]
# A mistake in a profile field, said with the option that sets it.
OPTION_OF = {"name": "--name", "items": "--items", "filter": "--include/--exclude",
             "direction": "--direction", "policy": "--policy", "schedule": "--schedule",
             "schedule_start": "--start", "schedule_weekday": "--weekday",
             "schedule_day": "--day"}


def add_parsers(sub, home_option) -> None:
    profile = sub.add_parser("profile", parents=[home_option], help="synchronization profiles")
    actions = profile.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    p = actions.add_parser("add", parents=[home_option], help="add a profile to a relationship")
    p.add_argument("relationship")
    _profile_options(p, adding=True)
    p.set_defaults(handler=add)
    p = actions.add_parser("edit", parents=[home_option],
                           help="change a profile (options not given stay as they are)")
    p.add_argument("profile")
    p.add_argument("--rename", metavar="NAME", dest="name", help="a new name")
    _profile_options(p, adding=False)
    p.set_defaults(handler=edit)
    p = actions.add_parser("list", parents=[home_option], help="the profiles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_)
    p = actions.add_parser("delete", parents=[home_option],
                           help="delete a profile and its schedule (its run logs are kept)")
    p.add_argument("profile")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=delete)


def _profile_options(p: argparse.ArgumentParser, adding: bool) -> None:
    if adding:
        p.add_argument("--name", required=True)
    p.add_argument("--items", required=adding, help="database,workarea,templates,bin")
    filters = p.add_mutually_exclusive_group()
    filters.add_argument("--include", metavar="EXTS", help="only these extensions")
    filters.add_argument("--exclude", metavar="EXTS", help="these extensions as well")
    if not adding:
        filters.add_argument("--no-filter", action="store_true", help="drop the file filter")
    p.add_argument("--direction", required=adding,
                   choices=["bidirectional", "upload", "download"])
    p.add_argument("--policy", default="remote-wins" if adding else None,
                   choices=["local-wins", "remote-wins"])
    p.add_argument("--schedule", default="none" if adding else None, choices=KINDS)
    p.add_argument("--start", metavar="ISO-DATETIME",
                   help="first start, e.g. 2026-12-01T02:00 (in the instance's time zone "
                        "unless it has an offset)")
    p.add_argument("--weekday", type=int, choices=range(7), metavar="0-6",
                   help="weekly: 0 Monday ... 6 Sunday (default: the start's)")
    p.add_argument("--day", type=int, metavar="1-31",
                   help="monthly: day of the month (default: the start's)")


def _fields(args: argparse.Namespace, current: dict) -> dict:
    """The options given, as profiles.services fields; the rest stay as in `current`."""
    from esync_site.refusal import Refusal

    fields: dict = {}
    if args.name is not None:
        fields["name"] = args.name
    if args.items is not None:
        fields["items"] = [i.strip() for i in args.items.split(",") if i.strip()]
    if args.include:
        fields.update(filter_mode="include", filter_extensions=args.include)
    elif args.exclude:
        fields.update(filter_mode="exclude", filter_extensions=args.exclude)
    elif getattr(args, "no_filter", False):
        fields.update(filter_mode="none", filter_extensions="")
    for name in ("direction", "policy", "schedule"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.start is not None:
        try:
            fields["schedule_start"] = dt.datetime.fromisoformat(args.start)
        except ValueError:
            raise Refusal(f"--start {args.start!r} is not a date and time such as "
                          "2026-12-01T02:00.") from None
    schedule = fields.get("schedule", current.get("schedule", "none"))
    if args.weekday is not None or "schedule" in fields:
        fields["schedule_weekday"] = args.weekday
    if args.day is not None or "schedule" in fields:
        fields["schedule_day"] = args.day
    start = fields.get("schedule_start", current.get("schedule_start"))
    if schedule in ("weekly", "monthly") and start is not None:  # default: the start's day
        from django.utils import timezone

        local = timezone.localtime(start) if timezone.is_aware(start) else start
        if schedule == "weekly" and fields.get("schedule_weekday",
                                               current.get("schedule_weekday")) is None:
            fields["schedule_weekday"] = local.weekday()
        if schedule == "monthly" and fields.get("schedule_day",
                                                current.get("schedule_day")) is None:
            fields["schedule_day"] = local.day
    if schedule == "none":
        fields.update(schedule_start=None, schedule_weekday=None, schedule_day=None)
    return fields


def _save(relationship, fields: dict, profile=None):
    from esync_site.refusal import Refusal
    from profiles import services

    try:
        return services.save_profile(relationship, fields, profile)
    except services.ProfileInvalid as invalid:
        raise Refusal("; ".join(f"{OPTION_OF.get(field, field)}: {message}"
                                for field, message in invalid.errors.items())) from None


def add(args: argparse.Namespace) -> int:
    setup_instance(args)
    from relationships.commands import find_relationship

    relationship = find_relationship(args.relationship)
    profile = _save(relationship, _fields(args, {}))
    print(f"Profile {profile.id} {profile.name!r} added ({profile.get_direction_display()}; "
          f"schedule: {profile.schedule_in_words}).")
    print(f"Run it now with: esync sync {profile.id} --wait")
    return 0


def edit(args: argparse.Namespace) -> int:
    setup_instance(args)
    from profiles import services

    profile = services.find_profile(args.profile)
    current = services.fields_of(profile)
    profile = _save(profile.relationship, _fields(args, current), profile)
    print(f"Profile {profile.id} {profile.name!r} saved ({profile.get_direction_display()}; "
          f"schedule: {profile.schedule_in_words}).")
    return 0


def list_(args: argparse.Namespace) -> int:
    setup_instance(args)
    from profiles.models import Profile
    from profiles.services import describe

    profiles = [describe(p) for p in Profile.objects.select_related("relationship")]
    if args.json:
        print(json.dumps(profiles, indent=2))
        return 0
    if not profiles:
        print("There are no profiles: add one with `esync profile add`.")
    for p in profiles:
        print(f"{p['id']:>3}  {p['name']}  ↔ {p['remote_name']}: {','.join(p['items'])}, "
              f"{p['direction']}, {p['policy']}; {p['schedule_in_words']}")
    return 0


def delete(args: argparse.Namespace) -> int:
    setup_instance(args)
    from profiles.services import delete_profile, find_profile

    profile = find_profile(args.profile)
    if not args.yes:
        answer = input(f"Delete the profile {profile.name!r} and its schedule (its run logs "
                       "are kept)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    delete_profile(profile)
    print(f"Deleted the profile {profile.name!r}; its run logs are kept.")
    return 0
