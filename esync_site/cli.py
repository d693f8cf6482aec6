"""The `esync` command line: the screens' actions for scripts and pipelines.

Exit codes: 0 done, 2 usage, 3 refused by a precondition (the message says which), 4 failed.
Commands that need the instance's Django set it up from --home / ESYNC_HOME first; `init` and
`demo` work before any instance exists.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from pathlib import Path

from esync_site.instance import HOME_ENV, InstanceConfigError, resolve_home
from esync_site.refusal import Refusal
from syncengine.peer_errors import PeerError

EXIT_OK, EXIT_USAGE, EXIT_REFUSED, EXIT_FAILED = 0, 2, 3, 4

# Commands of the design's contract that later work brings. They answer clearly meanwhile.
NOT_YET_SUPPORTED: dict[str, str] = {}  # command -> what is still to be built


def setup_django(home: Path) -> None:
    os.environ[HOME_ENV] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "esync_site.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as error:
        raise Refusal(str(error)) from error
    # Every process of an instance starts here: a home whose secrets are open to others
    # (copied, restored from a backup, made by an older esync) is narrowed, and says so.
    from django.conf import settings

    from esync_site.instance import secure_private_files, sqlite_paths

    for note in secure_private_files(settings.ESYNC, sqlite_paths(settings.DATABASES.values())):
        logging.getLogger("esync.private_files").warning(note)


def _home(args: argparse.Namespace) -> Path:
    return resolve_home(getattr(args, "home", None))


def setup_instance(args: argparse.Namespace) -> Path:
    """Set Django up for the instance named by --home / ESYNC_HOME; returns its home."""
    home = _home(args)
    setup_django(home)
    return home


# -- commands ---------------------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    from esync_site import instance_setup

    home = Path(args.path).expanduser().resolve()
    admin = instance_setup.AdminAccount.parse(args.admin)
    config = instance_setup.plan_home(home, args.name, args.db, args.web_port, args.sync_port)
    instance_setup.create_home_files(config)
    try:
        setup_django(home)
        instance_setup.initialize_database(admin)
    except BaseException:
        instance_setup.remove_home_files(config)
        raise
    from relationships.server_identity import describe_instance

    info = describe_instance()
    print(f"Created esync instance {info['name']!r} in {home}")
    print(f"  server id {info['server_id']}, database {info['database']}, "
          f"web port {config.web_port}, sync port {config.sync_port}")
    print(f"  time zone {config.time_zone} (this machine's; time_zone in esync.toml changes "
          "it)")
    password = admin.password if admin.generated else "(as given)"
    print(f"  administrator: {admin.username} / {password}")
    print(f"Start it with: esync --home {home} serve")
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    setup_instance(args)
    from relationships.server_identity import describe_instance

    info = describe_instance()
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    number = info["server_number"] or "not assigned (allocates like server 1 until paired)"
    print(f"name           {info['name']}")
    print(f"server id      {info['server_id']}")
    print(f"server number  {number}")
    print(f"max id         {info['max_id']}")
    print(f"ID range       {info['id_range']['first']} – {info['id_range']['last']}")
    print(f"version        {info['version']}")
    print(f"database       {info['database']}")
    print("sites          " + ", ".join(f"{s['name']} ({s['site_root']})" for s in info["sites"]))
    print(f"ports          web {info['ports']['web']}, sync {info['ports']['sync']}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from esync_site.supervisor import serve

    home = setup_instance(args)  # validates the home before any child starts
    return serve(home)


def cmd_web(args: argparse.Namespace) -> int:
    setup_instance(args)
    from esync_site.web_server import run_web

    run_web()
    return EXIT_OK


def cmd_syncservice(args: argparse.Namespace) -> int:
    setup_instance(args)
    from esync_site.sync_service import run_sync_service

    run_sync_service()
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    setup_instance(args)
    from esync_site.celery_processes import run_worker

    return run_worker(getattr(args, "node", None))


def cmd_beat(args: argparse.Namespace) -> int:
    setup_instance(args)
    from esync_site.celery_processes import run_beat

    return run_beat()


def cmd_manage(args: argparse.Namespace) -> int:
    setup_instance(args)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["esync manage", *args.arguments])
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from esync_site.demo import run_demo

    return run_demo(Path(args.dir).expanduser().resolve(), start=not args.setup_only)


def cmd_not_yet_supported(args: argparse.Namespace) -> int:
    what = NOT_YET_SUPPORTED[args.command]
    print(f"esync {args.command}: not yet supported in this version ({what} is still to be "
          "built).", file=sys.stderr)
    return EXIT_USAGE


# -- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    home_option = argparse.ArgumentParser(add_help=False)
    home_option.add_argument("--home", default=argparse.SUPPRESS,
                             help=f"instance home (default: ${HOME_ENV})")
    parser = argparse.ArgumentParser(
        prog="esync", parents=[home_option],
        description="Keep CMS sites in step across servers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create an instance home")
    p.add_argument("path", metavar="HOME")
    p.add_argument("--name", required=True)
    p.add_argument("--db", help="database URL (default: SQLite under HOME)")
    p.add_argument("--web-port", type=int)
    p.add_argument("--sync-port", type=int)
    p.add_argument("--admin", metavar="USER:PASSWORD",
                   help="first administrator (default: admin with a generated password)")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("info", parents=[home_option], help="this instance's identity")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_info)

    for name, handler, text in (
        ("serve", cmd_serve, "run web, worker and beat until Ctrl-C"),
        ("web", cmd_web, "run the Workarea web server only"),
        ("worker", cmd_worker, "run the Celery worker only"),
        ("beat", cmd_beat, "run Celery beat (profile schedules) only"),
    ):
        p = sub.add_parser(name, parents=[home_option], help=text)
        p.set_defaults(handler=handler)
        if name == "worker":
            p.add_argument("--node", help="a name for an extra worker of this instance "
                                          "(each worker needs its own)")

    p = sub.add_parser("manage", parents=[home_option],
                       help="run a Django management command on this instance")
    p.add_argument("arguments", nargs=argparse.REMAINDER)
    p.set_defaults(handler=cmd_manage)

    p = sub.add_parser("syncservice", parents=[home_option],
                       help="run the sync service (peer API over mutual TLS) only")
    p.set_defaults(handler=cmd_syncservice)

    from certificates.commands import add_parser as add_certs_parser

    add_certs_parser(sub, home_option)

    from relationships.commands import add_parsers as add_relationship_parsers

    add_relationship_parsers(sub, home_option)

    from profiles.commands import add_parsers as add_profile_parsers

    add_profile_parsers(sub, home_option)

    from syncengine.commands import add_parsers as add_sync_parsers

    add_sync_parsers(sub, home_option)

    from syncengine.table_commands import add_parsers as add_table_parsers

    add_table_parsers(sub, home_option)

    from syncengine.held_commands import add_parsers as add_held_parsers

    add_held_parsers(sub, home_option)

    from syncengine.version_commands import add_parsers as add_version_parsers

    add_version_parsers(sub, home_option)

    p = sub.add_parser("demo", help="staging + production on this machine, ready to click")
    p.add_argument("--dir", default="var/demo")
    p.add_argument("--setup-only", action="store_true",
                   help="create and seed the two instances without starting them")
    p.set_defaults(handler=cmd_demo)

    for name, what in NOT_YET_SUPPORTED.items():
        p = sub.add_parser(name, parents=[home_option], help=f"{what} (not yet supported)",
                           add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(handler=cmd_not_yet_supported)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (Refusal, InstanceConfigError) as error:
        print(f"esync: {error}", file=sys.stderr)
        return EXIT_REFUSED

    except KeyboardInterrupt:
        return EXIT_FAILED
    except PeerError as error:  # a peer could not be reached, or refused
        print(f"esync: {error}", file=sys.stderr)
        return EXIT_FAILED


def console_main() -> None:
    """The `esync` program: `main`, then out without the interpreter's tear-down.

    Unloading Django, Celery and the rest module by module costs 70-90 ms after the work is
    done; a command run from a script or a pipeline waits for it for nothing. Output is
    flushed, database connections and logs closed first. While a thread of the command's own
    is still running, the ordinary exit waits for it as usual."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: the ordinary exit reports it
        sys.exit(code)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.exit(code)
    try:
        if "django.apps" in sys.modules:
            from django.apps import apps

            if apps.ready:  # not when the instance's settings were refused
                from django.db import connections

                connections.close_all()
        logging.shutdown()
    except Exception:  # noqa: BLE001 - whatever went wrong, the ordinary exit tells it
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
