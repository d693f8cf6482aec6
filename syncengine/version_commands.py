"""`esync versions list [--path SUBSTR] [--json]`, `esync versions restore STAMP PATH [--yes]`,
`esync versions prune [--keep-days N] [--max-bytes N] [--yes]`: the site files a file sync
replaced or deleted, kept under HOME/versions/."""

from __future__ import annotations

import argparse
import json
import sys

from esync_site.cli import EXIT_FAILED, EXIT_OK, setup_instance
from esync_site.instance import MAX_KEEP_DAYS, MAX_VERSION_BYTES
from esync_site.refusal import Refusal
from esync_site.whole_numbers import whole_number


def _limit(most: int, what: str):
    def parse(text: str) -> int:
        number = whole_number(text)
        if number is None or number > most:
            raise argparse.ArgumentTypeError(
                f"{text[:40]!r} is not a number of {what} from 0 (no limit) to {most}")
        return number

    return parse


def add_parsers(sub, home_option) -> None:
    versions = sub.add_parser("versions", parents=[home_option],
                              help="site files a file sync replaced or deleted, kept here")
    actions = versions.add_subparsers(dest="versions_command", metavar="ACTION", required=True)
    p = actions.add_parser("list", parents=[home_option], help="every kept version")
    p.add_argument("--path", default="", metavar="SUBSTR",
                   help="only versions whose path holds this")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_versions)
    p = actions.add_parser("restore", parents=[home_option],
                           help="put a kept version back in the site root")
    p.add_argument("stamp", metavar="STAMP")
    p.add_argument("path", metavar="PATH", help="as `versions list` shows it")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=restore)
    p = actions.add_parser("prune", parents=[home_option],
                           help="remove the oldest kept versions (esync.toml's [versions] "
                                "limits unless given)")
    p.add_argument("--keep-days", type=_limit(MAX_KEEP_DAYS, "days"), metavar="N",
                   help="remove the versions of runs older than N days (0: no age limit)")
    p.add_argument("--max-bytes", type=_limit(MAX_VERSION_BYTES, "bytes"), metavar="N",
                   help="then the oldest while all hold more than N bytes (0: no limit)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=prune)


def _confirmed(question: str, what: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise Refusal(f"{what} needs --yes when there is no terminal to confirm it at")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _failed(error: OSError) -> int:
    print(f"esync: the versions folder could not be read or written: "
          f"{error.strerror or error}", file=sys.stderr)
    return EXIT_FAILED


def list_versions(args: argparse.Namespace) -> int:
    setup_instance(args)
    from django.utils import timezone

    from syncengine import file_versions

    try:
        listed = file_versions.list_versions(args.path)
    except OSError as error:
        return _failed(error)
    if args.json:
        print(json.dumps([v.as_dict() for v in listed], indent=2))
        return EXIT_OK
    if not listed:
        print(f"No kept version's path holds {args.path!r}." if args.path
              else "No versions are kept.")
    for v in listed:
        print(f"{v.stamp}  {timezone.localtime(v.time):%Y-%m-%d %H:%M:%S}  "
              f"{v.size:>12}  {v.shown_path}")
    return EXIT_OK


def restore(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine import file_versions

    path = file_versions.typed_path(args.path)
    try:
        version = file_versions.find(args.stamp, path)
        if not _confirmed(f"Put back {version.shown_path} as {version.stamp} kept it "
                          f"({version.size} bytes)? The file there now is kept as a version "
                          "first.", f"restoring {version.shown_path}", args.yes):
            print("Nothing restored.")
            return EXIT_OK
        print(file_versions.restore(version.stamp, version.path).describe())
    except OSError as error:
        return _failed(error)
    return EXIT_OK


def prune(args: argparse.Namespace) -> int:
    setup_instance(args)
    from django.conf import settings

    from syncengine import file_versions

    configured = settings.ESYNC.versions
    days = configured.keep_days if args.keep_days is None else args.keep_days
    most = configured.max_bytes if args.max_bytes is None else args.max_bytes
    if not days and not most:
        print("Every version is kept: no limit is set (keep_days and max_bytes in esync.toml's "
              "[versions] are 0, and no --keep-days or --max-bytes was given).")
        return EXIT_OK
    try:
        planned = file_versions.plan_prune(days, most)
        if not planned:
            print(file_versions.Pruned().describe())
            return EXIT_OK
        files = sum(s.files for s in planned)
        if not _confirmed(f"Remove the versions kept by {len(planned)} runs, oldest "
                          f"{planned[0].stamp}, newest {planned[-1].stamp} ({files} files, "
                          f"{sum(s.bytes for s in planned)} bytes)?", "pruning versions",
                          args.yes):
            print("Nothing removed.")
            return EXIT_OK
        pruned = file_versions.prune(days, most)
    except OSError as error:
        return _failed(error)
    print(pruned.describe())
    return EXIT_FAILED if pruned.failed else EXIT_OK
