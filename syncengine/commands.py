"""`esync sync` and the run logs for scripts."""

from __future__ import annotations

import argparse

from esync_site.cli import setup_instance


def add_parsers(sub, home_option) -> None:
    p = sub.add_parser("sync", parents=[home_option], help="run a profile now")
    p.add_argument("profile")
    p.add_argument("--files", nargs="+", metavar="PATH", help=argparse.SUPPRESS)
    p.add_argument("--wait", action="store_true", help="show progress until it ends")
    p.set_defaults(handler=sync)


def sync(args: argparse.Namespace) -> int:
    setup_instance(args)
    from esync_site.refusal import Refusal
    from profiles.services import find_profile
    from relationships.commands import wait_for
    from syncengine.profile_sync import start_profile_sync

    if args.files:
        raise Refusal("Syncing selected files (--files) is not yet supported.")
    run = start_profile_sync(find_profile(args.profile))
    print(f"Sync of {run.profile.name!r} queued as run {run.id}.")
    return wait_for(run.id) if args.wait else 0
