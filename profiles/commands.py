"""`esync profile add | list | delete`: the basic profile form for scripts."""

from __future__ import annotations

import argparse
import json

from esync_site.cli import setup_instance


def add_parsers(sub, home_option) -> None:
    profile = sub.add_parser("profile", parents=[home_option], help="synchronization profiles")
    actions = profile.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    p = actions.add_parser("add", parents=[home_option], help="add a profile to a relationship")
    p.add_argument("relationship")
    p.add_argument("--name", required=True)
    p.add_argument("--items", required=True, help="database,workarea,templates,bin")
    filters = p.add_mutually_exclusive_group()
    filters.add_argument("--include", metavar="EXTS", help="only these extensions")
    filters.add_argument("--exclude", metavar="EXTS", help="these extensions as well")
    p.add_argument("--direction", required=True,
                   choices=["bidirectional", "upload", "download"])
    p.add_argument("--policy", default="remote-wins", choices=["local-wins", "remote-wins"])
    p.add_argument("--schedule", default="none")
    p.set_defaults(handler=add)
    p = actions.add_parser("list", parents=[home_option], help="the profiles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_)
    p = actions.add_parser("delete", parents=[home_option],
                           help="delete a profile (its run logs are kept)")
    p.add_argument("profile")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=delete)


def add(args: argparse.Namespace) -> int:
    setup_instance(args)
    from esync_site.refusal import Refusal
    from profiles import services
    from relationships.commands import find_relationship

    if args.schedule != "none":
        raise Refusal("Schedules are not yet supported: add the profile with --schedule none "
                      "and run it with `esync sync`.")
    mode, extensions = (("include", args.include) if args.include else
                        ("exclude", args.exclude) if args.exclude else ("none", ""))
    items = [i.strip() for i in args.items.split(",") if i.strip()]
    profile = services.add_profile(find_relationship(args.relationship), args.name, items,
                                   args.direction, args.policy, mode, extensions)
    print(f"Profile {profile.id} {profile.name!r} added ({profile.get_direction_display()}).")
    print(f"Run it with: esync sync {profile.id} --wait")
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
              f"{p['direction']}, {p['policy']}")
    return 0


def delete(args: argparse.Namespace) -> int:
    setup_instance(args)
    from profiles.services import find_profile

    profile = find_profile(args.profile)
    if not args.yes:
        answer = input(f"Delete the profile {profile.name!r} (its run logs are kept)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    profile.delete()
    print(f"Deleted the profile {profile.name!r}.")
    return 0
