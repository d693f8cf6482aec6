"""`esync sync`, `preview`, `logs`/`log`, `collisions` and `conflicts`: the screens for scripts.

Every listing takes --json. Exit codes as everywhere: 0 done, 2 usage, 3 refused, 4 failed.
"""

from __future__ import annotations

import argparse
import json

from esync_site.cli import setup_instance


def add_parsers(sub, home_option) -> None:
    p = sub.add_parser("sync", parents=[home_option], help="run a profile now")
    p.add_argument("profile")
    p.add_argument("--files", nargs="+", metavar="PATH",
                   help="only these site root files (local newer wins; nothing deleted)")
    p.add_argument("--wait", action="store_true", help="show progress until it ends")
    p.set_defaults(handler=sync)

    for kind, what in (("content", "one approved content item"),
                       ("folder", "a folder's approved content items (not its subfolders')")):
        group = sub.add_parser(kind, parents=[home_option], help=f"synchronize {what} now")
        actions = group.add_subparsers(dest=f"{kind}_command", required=True, metavar="ACTION")
        p = actions.add_parser("sync", parents=[home_option], help=f"synchronize {what}")
        p.add_argument("item_id", metavar=f"{kind.upper()}_ID", type=int)
        p.add_argument("--relationship", required=True, metavar="R")
        p.add_argument("--wait", action="store_true", help="show progress until it ends")
        p.set_defaults(handler=content_sync, target=kind)

    p = sub.add_parser("preview", parents=[home_option],
                       help="what the next run of a profile would move (changes nothing)")
    p.add_argument("profile")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=preview)

    p = sub.add_parser("logs", parents=[home_option], help="all runs, newest first")
    p.add_argument("--relationship", metavar="R", help="only the runs of this relationship")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=logs)

    p = sub.add_parser("log", parents=[home_option],
                       help="one run's log: skipped rows and conflicts")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=log)

    p = sub.add_parser("collisions", parents=[home_option],
                       help="renamed name collisions waiting for review")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=collisions)
    actions = p.add_subparsers(dest="collisions_command", metavar="ACTION")
    r = actions.add_parser("review", parents=[home_option], help="mark collisions reviewed")
    r.add_argument("ids", nargs="+", type=int, metavar="ID")
    r.add_argument("--email", action="store_true",
                   help="also e-mail each renamed user their new user name (users only)")
    r.set_defaults(handler=review_collisions)

    p = sub.add_parser("conflicts", parents=[home_option],
                       help="rows changed on both sides, and their kept losing versions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=conflicts)
    actions = p.add_subparsers(dest="conflicts_command", metavar="ACTION")
    r = actions.add_parser("restore", parents=[home_option],
                           help="write a conflict's losing version back here")
    r.add_argument("id", metavar="ID")
    r.set_defaults(handler=restore_conflict)


def _print_json(data: object) -> int:
    print(json.dumps(data, indent=2, default=str))
    return 0


def sync(args: argparse.Namespace) -> int:
    setup_instance(args)
    from profiles.services import find_profile
    from relationships.commands import wait_for
    from syncengine.profile_sync import start_profile_sync

    run = start_profile_sync(find_profile(args.profile), files=args.files)
    what = f"{len(run.selected_paths)} selected files of " if args.files else ""
    print(f"Sync of {what}{run.profile.name!r} queued as run {run.id}.")
    return wait_for(run.id) if args.wait else 0


def content_sync(args: argparse.Namespace) -> int:
    setup_instance(args)
    from relationships.commands import find_relationship, wait_for
    from syncengine.content_sync import start_content_sync

    relationship = find_relationship(args.relationship)
    run = start_content_sync(relationship, content_id=args.item_id if args.target == "content"
                             else None,
                             folder_id=args.item_id if args.target == "folder" else None)
    print(f"{run.get_kind_display()} of {len(run.target_ids)} item(s) with "
          f"{relationship.remote_name} queued as run {run.id}.")
    return wait_for(run.id) if args.wait else 0


def preview(args: argparse.Namespace) -> int:
    setup_instance(args)
    from profiles.services import find_profile
    from syncengine.preview import preview_profile

    plan = preview_profile(find_profile(args.profile))
    if args.json:
        return _print_json(plan)
    print(f"Synchronization Preview of {plan['profile_name']!r} with {plan['remote_name']} "
          f"({plan['direction']}, {plan['policy']}); nothing was changed.")
    for side, title in (("local", "Local"), ("remote", "Remote")):
        if not plan[side]:
            print(f"\n{title} Changes: No Items to preview")
        for group in plan[side]:
            print(f"\n{title} Changes [Table: {group['table']}]:")
            for change in group["changes"]:
                line = f"  {change['op']:<7} {change['key']}"
                if "content" in change:
                    c = change["content"]
                    line += (f"  {c['title']!r} lang {c['language']} status {c['status']} "
                             f"folder {c['folder']} by {c['last_editor'] or '-'} "
                             f"at {c['edit_date']}")
                print(line)
    if plan["conflicts"]:
        print("\nConflicts (changed on both sides):")
    for c in plan["conflicts"]:
        print(f"  {c['table']} {c['key']}: local {c['local_op']}, remote {c['remote_op']} "
              f"→ the {c['winner']} version wins")
    return 0


def logs(args: argparse.Namespace) -> int:
    setup_instance(args)
    from relationships.commands import find_relationship
    from syncengine.run_logs import describe_run, list_runs

    relationship = find_relationship(args.relationship) if args.relationship else None
    runs = [describe_run(r) for r in list_runs(relationship)]
    if args.json:
        return _print_json(runs)
    if not runs:
        print("No synchronization has run yet.")
        return 0
    print(f"{'Log Id':>6}  {'Type':<11} {'Direction':<13} {'Start Time':<19}  "
          f"{'End Time':<19}  {'User':<12} {'Applied':>7} {'Skipped':>7} {'Total':>7}  Status")
    for r in runs:
        print(f"{r['id']:>6}  {r['type']:<11} {r['direction']:<13} {_short(r['start']):<19}  "
              f"{_short(r['end']):<19}  {r['user'][:12]:<12} {r['applied']:>7} "
              f"{r['skipped']:>7} {r['total']:>7}  {r['status']}")
    return 0


def _short(moment: str | None) -> str:
    return (moment or "")[:19].replace("T", " ")


def log(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine.run_logs import find_run, run_detail

    detail = run_detail(find_run(args.run_id))
    if args.json:
        return _print_json(detail)
    print(f"Log {detail['id']}: {detail['type']} {detail['direction']}"
          + (f", profile {detail['profile']}" if detail["profile"] else "")
          + (f", with {detail['remote_name']}" if detail["remote_name"] else ""))
    print(f"Start Time: {_short(detail['start'])}   End Time: {_short(detail['end'])}   "
          f"User: {detail['user']}")
    print(f"Status: {detail['status']}   Statistics: Applied:{detail['applied']} "
          f"Skipped:{detail['skipped']} Total:{detail['total']}")
    if detail["scheduled_for"]:
        print(f"Scheduled for: {_short(detail['scheduled_for'])}"
              + (f"   {detail['started_late']}" if detail["started_late"] else ""))
    if detail["message"]:
        print(detail["message"])
    if detail["skipped_rows"]:
        print("Skipped Reasons:")
    for s in detail["skipped_rows"]:
        print(f"  {s['table']} {s['stage']} ({s['side']}) remote key {s['remote_key'] or '-'} "
              f"local key {s['local_key'] or '-'}: {s['error']}")
    if detail["conflicts"]:
        print("Conflicts:")
    for c in detail["conflicts"]:
        restored = f", restored by {c['restored_by']}" if c["restored_at"] else ""
        print(f"  #{c['id']} {c['table']} {c['key']}: the {c['winner']} version won{restored}")
    return 0


def collisions(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine.collision_review import describe, unreviewed

    pending = [describe(c) for c in unreviewed()]
    if args.json:
        return _print_json(pending)
    if not pending:
        print("No collisions to review.")
    for c in pending:
        print(f"{c['id']:>4}  {c['kind']:<8} {c['original_name']} → {c['modified_name']} "
              f"({c['table']} {c['row_id']})")
    return 0


def review_collisions(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine.collision_review import mark_reviewed, mark_reviewed_and_email

    no_address: list[str] = []
    if args.email:
        marked, no_address = mark_reviewed_and_email(args.ids, "command line")
    else:
        marked = mark_reviewed(args.ids, "command line")
    print(f"{marked} collision{'s' if marked != 1 else ''} marked reviewed"
          + (" and e-mailed." if args.email else "."))
    if no_address:
        print("No e-mail address, so not e-mailed: " + ", ".join(no_address) + ".")
    return 0


def conflicts(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine.conflicts import list_conflicts
    from syncengine.run_logs import describe_conflict

    records = [describe_conflict(r) for r in list_conflicts()]
    if args.json:
        return _print_json(records)
    if not records:
        print("No conflicts have been recorded.")
    for r in records:
        restored = f"restored by {r['restored_by']}" if r["restored_at"] else "not restored"
        print(f"{r['id']:>4}  {r['table']} {r['key']}: the {r['winner']} version won "
              f"({_short(r['when'])}, run {r['run']}); {restored}")
    return 0


def restore_conflict(args: argparse.Namespace) -> int:
    setup_instance(args)
    from syncengine.conflicts import find_conflict, restore

    record = find_conflict(args.id)
    restore(record, "command line")
    print(f"Restored the {record.loser_side} version of {record.table_name} {record.row_key}; "
          "the next sync carries it to the peer.")
    return 0
