"""`esync relationship ...` and `esync initial-sync`: the wizard and Start for scripts."""

from __future__ import annotations

import argparse
import json
import sys
import time

from esync_site.cli import setup_instance
from esync_site.refusal import Refusal
from esync_site.whole_numbers import whole_number


def add_parsers(sub, home_option) -> None:
    rel = sub.add_parser("relationship", parents=[home_option],
                         help="sync server relationships")
    actions = rel.add_subparsers(dest="relationship_command", required=True, metavar="ACTION")
    p = actions.add_parser("create", parents=[home_option],
                           help="connect to a remote server and create the relationship")
    p.add_argument("--remote", required=True, metavar="HOST[:PORT]")
    p.add_argument("--certificate", help="the trusted peer to connect with (name or id)")
    p.add_argument("--database", help="the remote database (default: its first)")
    p.add_argument("--site", default="default", help="the local site")
    p.add_argument("--remote-site", default="default")
    p.add_argument("--initial-direction", required=True, choices=["upload", "download"])
    p.set_defaults(handler=create)
    p = actions.add_parser("list", parents=[home_option], help="the relationships")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_)
    p = actions.add_parser("delete", parents=[home_option],
                           help="delete a relationship with its profiles (no data)")
    p.add_argument("relationship")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=delete)

    p = actions.add_parser(
        "peers", parents=[home_option],
        help="the relationships peers hold with this server: their announced profiles and "
             "what they may write here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=peers)
    p = actions.add_parser(
        "narrow", parents=[home_option],
        help="what a peer's relationship may write here at most",
        description="Narrow what a peer's relationship may write on this server, whatever its "
                    "announced profiles say (the configurations screen's \"Profiles of PEER "
                    "that write here\" form). Give --items, a privileged option, or both; "
                    "what is not given stays as it is.")
    p.add_argument("peer_relationship", metavar="PEER_RELATIONSHIP_ID",
                   help="its id here, as `esync relationship peers` lists it")
    p.add_argument("--items", type=_narrowed_items, metavar="ITEMS",
                   help="the items it may write here at most, comma-separated: some of "
                        "database, workarea, templates, bin; `none` stops every write")
    privileged = p.add_mutually_exclusive_group()
    privileged.add_argument("--accept-privileged", dest="privileged", action="store_const",
                            const=True, help="apply its changes that make someone superuser, "
                            "staff, an Administrator or a Synchronization Admin, or change an "
                            "Administrator's password or e-mail")
    privileged.add_argument("--hold-privileged", dest="privileged", action="store_const",
                            const=False, help="hold such changes for an Administrator's "
                            "review (the default for a new relationship)")
    p.set_defaults(handler=narrow)

    p = sub.add_parser("initial-sync", parents=[home_option],
                       help="copy the site once, in the relationship's direction")
    p.add_argument("relationship")
    p.add_argument("--force", action="store_true", help="Force Initial Sync (see prerequisites)")
    p.add_argument("--wait", action="store_true", help="show progress until it ends")
    p.set_defaults(handler=initial_sync)


def find_relationship(key: str):
    from relationships.models import Relationship

    matches = [r for r in Relationship.objects.all()
               if key in (str(r.id), r.remote_name, str(r.remote_server_id), r.address)]
    if len(matches) != 1:
        raise Refusal(f"No single relationship matches {key!r} ({len(matches)} do); "
                      "see `esync relationship list`.")
    return matches[0]


def describe(r) -> dict:
    return {
        "id": r.id, "local_site": r.local_site, "remote": r.address,
        "remote_name": r.remote_name, "remote_server_id": str(r.remote_server_id),
        "remote_database": r.remote_database, "remote_site": r.remote_site,
        "certificate": r.certificate.name, "initial_direction": r.initial_direction,
        "state": r.state, "staged_at": r.staged_at.isoformat() if r.staged_at else None,
        "profiles": [p.name for p in r.profiles.all()],
    }


def create(args: argparse.Namespace) -> int:
    setup_instance(args)
    from relationships import pairing
    from relationships.server_identity import get_server_info

    peer = pairing.choose_certificate(args.certificate)
    relationship = pairing.create_relationship(
        args.remote, peer, args.initial_direction, args.database, args.remote_site, args.site)
    info = get_server_info()
    print(f"Relationship {relationship.id} created: {relationship} "
          f"({relationship.initial_direction}).")
    print(f"This server is number {info.server_number}; new keys from {info.id_range[0]:,}.")
    print(f"Copy the site with: esync initial-sync {relationship.id} --wait")
    return 0


def list_(args: argparse.Namespace) -> int:
    setup_instance(args)
    from relationships.models import Relationship

    relationships = [describe(r) for r in Relationship.objects.select_related("certificate")]
    if args.json:
        print(json.dumps(relationships, indent=2))
    elif not relationships:
        print("There are no configurations: create one with `esync relationship create`.")
    for r in [] if args.json else relationships:
        print(f"{r['id']:>3}  {r['local_site']} ↔ {r['remote_name']} at {r['remote']} "
              f"(database {r['remote_database']}, certificate {r['certificate']}), "
              f"{r['initial_direction']}, {r['state']}")
    return 0


def delete(args: argparse.Namespace) -> int:
    setup_instance(args)
    relationship = find_relationship(args.relationship)
    if not args.yes:
        answer = input(f"Delete the relationship with {relationship.remote_name} and its "
                       f"profiles (no data is deleted)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    from relationships.lifecycle import delete_relationship

    delete_relationship(relationship)
    print(f"Deleted the relationship with {relationship.remote_name}.")
    return 0


def _narrowed_items(text: str) -> list[str]:
    # Read while the arguments are parsed, before Django is set up: file_rules is plain.
    from syncengine.file_rules import ITEMS

    if text.strip().lower() == "none":
        return []
    items = [i.strip() for i in text.split(",") if i.strip()]
    unknown = [i for i in items if i not in ITEMS]
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown) or repr(text)}: give some of "
                                         f"{', '.join(ITEMS)}, or none")
    return items


def _peer_relationships():
    from relationships.models import PeerRelationship

    return PeerRelationship.objects.active().select_related("peer").prefetch_related("profiles") \
        .order_by("peer__name", "remote_relationship_id")


def peers(args: argparse.Namespace) -> int:
    setup_instance(args)
    from relationships.peer_grants import described

    listed = [described(grant) for grant in _peer_relationships()]
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    if not listed:
        print("No peer holds a relationship with this server.")
    for g in listed:
        print(f"{g['id']:>3}  {g['peer']}'s relationship {g['remote_relationship_id']} (its site "
              f"{g['remote_site']} ↔ {g['local_site']} here), initial copy "
              f"{'onto' if g['initial_direction'] == 'upload' else 'from'} this server")
        print(f"     {g['in_words']}")
        print(f"     At most: {', '.join(g['allowed_items']) or 'nothing'} (esync relationship "
              f"narrow {g['id']} --items ...)")
        for profile in g["profiles"]:
            writes = (f"writes {', '.join(profile['writes_here'])} here"
                      if profile["writes_here"] else "writes nothing here")
            print(f"     - {profile['name']}: {', '.join(profile['items'])} · "
                  f"{profile['direction_words']} · {profile['filter_words']} · {writes}")
        if not g["profiles"]:
            print("     (no profile announced)")
    return 0


def narrow(args: argparse.Namespace) -> int:
    setup_instance(args)
    from relationships.peer_grants import may_write_in_words
    from relationships.peer_grants import narrow as narrow_grant

    if args.items is None and args.privileged is None:
        print("esync: give --items, --accept-privileged or --hold-privileged",
              file=sys.stderr)
        return 2
    key = args.peer_relationship
    number = whole_number(key)
    grant = None if number is None else _peer_relationships().filter(pk=number).first()
    if grant is None:
        raise Refusal(f"No peer relationship {key!r} here; see `esync relationship peers`.")
    narrow_grant(grant, grant.writable_items if args.items is None else args.items,
                 grant.accept_privileged_changes if args.privileged is None
                 else args.privileged)
    print(may_write_in_words(grant))
    print(f"At most: {', '.join(grant.writable_items) or 'nothing'}.")
    return 0


def initial_sync(args: argparse.Namespace) -> int:
    setup_instance(args)
    from relationships.initial_sync import start_initial_sync

    run = start_initial_sync(find_relationship(args.relationship), force=args.force)
    print(f"Initial sync queued as run {run.id}.")
    return wait_for(run.id) if args.wait else 0


def wait_for(run_id: int) -> int:
    """Show a run's progress on the terminal until it ends; exit code from its status."""
    from syncengine.models import SyncRun
    from syncengine.runs import progress_of

    last, last_printed, started = None, 0.0, time.monotonic()
    began = started
    while True:
        run = SyncRun.objects.get(id=run_id)
        state = progress_of(run)
        news = (f"{state['phase']}"
                + (f" — {state['done']:,} of {state['total']:,}" if state["total"] else "")
                + (f", {state['bytes'] / 2**20:.1f} MB" if state["bytes"] else "")
                + (f", about {state['remaining_seconds']:.0f}s left"
                   if state["remaining_seconds"] else ""))
        # A line when something changed, and every 10 s so a long step shows it is alive.
        if news != last or time.monotonic() - last_printed > 10:
            print(f"[{state['elapsed_seconds']:>6.1f}s] {news}", flush=True)
            last, last_printed = news, time.monotonic()
        if state["finished"]:
            break
        if state["status"] == SyncRun.Status.QUEUED and time.monotonic() - started > 10:
            print("Still waiting for the worker: is `esync serve` running?", file=sys.stderr)
            started = time.monotonic() + 3600
        # Closely at first (most runs of a few changes end within a second), then calmly.
        time.sleep(0.02 if time.monotonic() - began < 3 else 0.1)
    # The status as the progress saw it: the row read above may be a moment older.
    print(f"{SyncRun.Status(state['status']).label}: {state['message']}")
    return 0 if state["status"] in (SyncRun.Status.SUCCESS, SyncRun.Status.WARNING) else 4
