"""`esync tracking refresh` and `esync tables register|list|unregister`: change tracking and
custom tables, by hand."""

from __future__ import annotations

import argparse
import json

from esync_site.cli import setup_instance


def add_parsers(sub, home_option) -> None:
    tracking = sub.add_parser("tracking", parents=[home_option], help="change tracking")
    actions = tracking.add_subparsers(dest="tracking_command", required=True,
                                      metavar="ACTION")
    p = actions.add_parser("refresh", parents=[home_option],
                           help="(re)install the change-tracking triggers of every synced "
                                "table, after tables were added")
    p.set_defaults(handler=refresh)

    tables = sub.add_parser("tables", parents=[home_option],
                            help="custom tables synced with the site's own")
    actions = tables.add_subparsers(dest="tables_command", required=True, metavar="ACTION")
    p = actions.add_parser("register", parents=[home_option],
                           help="sync a custom table of the site database, or of an ODBC "
                                "data source (it needs a primary key and no identity column)")
    p.add_argument("table", metavar="TABLE")
    p.add_argument("--odbc", metavar="CONNECTION_STRING",
                   help="the data source's ODBC connection string (first table of a source)")
    p.add_argument("--source", metavar="NAME",
                   help="the data source's name, the same on both servers")
    p.set_defaults(handler=register)
    p = actions.add_parser("list", parents=[home_option], help="the registered custom tables")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_tables)
    p = actions.add_parser("unregister", parents=[home_option],
                           help="stop syncing a custom table (its triggers are dropped)")
    p.add_argument("table", metavar="TABLE")
    p.add_argument("--source", metavar="NAME", help="when several sources have the table")
    p.set_defaults(handler=unregister)


def refresh(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine import change_log

    count = change_log.install()
    print(f"Change tracking installed on {count} tables.")
    return 0


def register(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine import custom_tables

    registration = custom_tables.register(args.table, odbc=args.odbc, source=args.source)
    where = "the site database" if registration.is_site else \
        f"the data source {registration.source!r}"
    print(f"Registered {registration.table_name!r} of {where}; its changes are tracked from "
          "now on. Register it on the other server too.")
    return 0


def list_tables(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine import custom_tables

    listed = custom_tables.listing()
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    if not listed:
        print("No custom tables are registered.")
    for item in listed:
        via = f"  ({item['connection']})" if item["connection"] else ""
        print(f"{item['source']:<16} {item['table']}{via}")
    return 0


def unregister(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine import custom_tables

    registration = custom_tables.unregister(args.table, source=args.source)
    print(f"Unregistered {registration}; its changes are no longer tracked.")
    return 0
