"""`esync held [--json]`, `esync held accept ID [--yes]`, `esync held drop ID [--yes]`: the
privileged-account changes from peers that wait for an Administrator's decision."""

from __future__ import annotations

import argparse
import json
import sys

from esync_site.cli import setup_instance
from esync_site.refusal import Refusal


def add_parsers(sub, home_option) -> None:
    held = sub.add_parser("held", parents=[home_option],
                          help="privileged-account changes from peers held for review")
    held.add_argument("--json", action="store_true")
    held.set_defaults(handler=list_held)
    actions = held.add_subparsers(dest="held_command", metavar="ACTION")
    p = actions.add_parser("accept", parents=[home_option],
                           help="apply a held change as it arrived")
    p.add_argument("held_id", type=int, metavar="ID")
    p.add_argument("--yes", action="store_true",
                   help="accepted for scripts that pass it to both actions; accept never asks")
    p.set_defaults(handler=accept)
    p = actions.add_parser("drop", parents=[home_option], help="discard a held change")
    p.add_argument("held_id", type=int, metavar="ID")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=drop)


def list_held(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine.privileged_changes import as_dict, pending

    listed = [as_dict(h) for h in pending()]
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    if not listed:
        print("No changes are held for review.")
    for h in listed:
        print(f"{h['id']:>3}  {h['username'] or h['key']}: {h['reasons']} "
              f"(from {h['peer']}, {h['received_at'][:19]})")
    return 0


def accept(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine.privileged_changes import decide_and_say

    print(decide_and_say(args.held_id, True, "command line"))
    return 0


def drop(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine.privileged_changes import decide_and_say, find_pending

    held = find_pending(args.held_id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise Refusal(f"dropping held change {held.id} needs --yes when there is no "
                          "terminal to confirm it at")
        answer = input(f"Drop held change {held.id} from {held.peer_name} "
                       f"({held.username or held.row_key}: {held.reasons})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing dropped.")
            return 0
    print(decide_and_say(held.id, False, "command line"))
    return 0
