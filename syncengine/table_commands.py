"""`esync tracking refresh`: change tracking for the synced tables, by hand."""

from __future__ import annotations

import argparse

from esync_site.cli import setup_instance


def add_parsers(sub, home_option) -> None:
    tracking = sub.add_parser("tracking", parents=[home_option], help="change tracking")
    actions = tracking.add_subparsers(dest="tracking_command", required=True,
                                      metavar="ACTION")
    p = actions.add_parser("refresh", parents=[home_option],
                           help="(re)install the change-tracking triggers of every synced "
                                "table, after tables were added")
    p.set_defaults(handler=refresh)


def refresh(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine import change_log

    count = change_log.install()
    print(f"Change tracking installed on {count} tables.")
    return 0
