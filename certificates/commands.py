"""`esync certs ...`: the Security Configurator for scripts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from esync_site.cli import setup_instance
from esync_site.refusal import Refusal


def add_parser(sub, home_option) -> None:
    certs = sub.add_parser("certs", parents=[home_option],
                           help="this instance's certificates and the peers it trusts")
    actions = certs.add_subparsers(dest="certs_command", required=True, metavar="ACTION")

    p = actions.add_parser("generate", parents=[home_option],
                           help="create the server and client identities")
    p.add_argument("--discard-existing", action="store_true",
                   help="remove the current identities first (peers must re-apply ours)")
    p.add_argument("--site", default="all", help="a site name, or all (default)")
    p.set_defaults(handler=generate)

    p = actions.add_parser("export", parents=[home_option],
                           help="write our public certificates for a peer into DIR")
    p.add_argument("dir")
    p.set_defaults(handler=export)

    p = actions.add_parser("apply", parents=[home_option],
                           help="trust the peer whose exported folder is DIR")
    p.add_argument("dir")
    p.set_defaults(handler=apply)

    p = actions.add_parser("list", parents=[home_option], help="identities and trusted peers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_)

    p = actions.add_parser("remove", parents=[home_option], help="stop trusting a peer")
    p.add_argument("peer", help="the peer's name or server id")
    p.set_defaults(handler=remove)

    p = actions.add_parser("test", parents=[home_option],
                           help="hello to a peer's sync service and check it can sync")
    p.add_argument("address", metavar="HOST[:PORT]")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=test)


def generate(args: argparse.Namespace) -> int:
    setup_instance(args)
    from certificates.identities import generate_or_keep

    identities, created = generate_or_keep(args.site, discard_existing=args.discard_existing)
    if not created:
        print(f"Identities for {args.site} already exist (use --discard-existing to replace):")
    else:
        print(f"Generated identities for {args.site}:")
    for identity in identities:
        print(f"  {identity.subject:<28} sha256 {identity.fingerprint}  "
              f"expires {identity.not_after:%Y-%m-%d}")
    return 0


def export(args: argparse.Namespace) -> int:
    setup_instance(args)
    from certificates.exchange import export_identity

    written = export_identity(Path(args.dir).expanduser().resolve())
    print(f"Exported {len(written)} files (public certificates and manifest, no private key):")
    for path in written:
        print(f"  {path}")
    print("Carry the folder to the peer and run there: esync certs apply DIR")
    return 0


def apply(args: argparse.Namespace) -> int:
    setup_instance(args)
    from certificates.exchange import apply_peer_folder

    peer = apply_peer_folder(Path(args.dir).expanduser().resolve())
    print(f"Trusting {peer.name} ({peer.server_id}) from now on:")
    print(f"  server certificate sha256 {peer.server_fingerprint}")
    print(f"  client certificate sha256 {peer.client_fingerprint}")
    return 0


def list_(args: argparse.Namespace) -> int:
    setup_instance(args)
    from certificates.identities import list_identities
    from certificates.models import TrustedPeer

    identities = list_identities()
    peers = list(TrustedPeer.objects.all())
    if args.json:
        print(json.dumps({
            "identities": [i.as_dict() for i in identities],
            "trusted_peers": [{
                "name": p.name, "server_id": str(p.server_id), "esync_version": p.esync_version,
                "server_fingerprint": p.server_fingerprint,
                "client_fingerprint": p.client_fingerprint,
                "server_not_after": p.server_not_after.isoformat(),
                "client_not_after": p.client_not_after.isoformat(),
                "applied_at": p.applied_at.isoformat(),
            } for p in peers],
        }, indent=2))
        return 0
    print("This instance:" if identities else "This instance has no identities yet "
          "(esync certs generate).")
    for i in identities:
        print(f"  {i.subject:<28} {i.scope:<8} sha256 {i.fingerprint}  "
              f"expires {i.not_after:%Y-%m-%d}{'  EXPIRED' if i.expired else ''}")
    print("Trusted peers:" if peers else "No trusted peers yet (esync certs apply DIR).")
    for p in peers:
        print(f"  {p.name:<16} {p.server_id}  server sha256 {p.server_fingerprint[:16]}…  "
              f"client sha256 {p.client_fingerprint[:16]}…")
    return 0


def remove(args: argparse.Namespace) -> int:
    setup_instance(args)
    from certificates.models import TrustedPeer
    matches = [p for p in TrustedPeer.objects.all()
               if args.peer in (p.name, str(p.server_id))]
    if len(matches) != 1:
        raise Refusal(f"No single trusted peer is called {args.peer!r} "
                      f"({len(matches)} match); see `esync certs list`.")
    matches[0].delete()
    print(f"No longer trusting {matches[0].name} ({matches[0].server_id}).")
    return 0


def test(args: argparse.Namespace) -> int:
    setup_instance(args)
    from certificates.connection_check import check_connection
    from syncengine.peer_errors import PeerError

    try:
        report = check_connection(args.address)
    except ValueError as error:  # not a HOST[:PORT]
        print(f"esync certs test: {error}")
        return 2
    except PeerError as error:
        if args.json:
            print(json.dumps({"ok": False, "error": error.code, "message": str(error)}))
        else:
            print(f"Connection failed: {error}")
        return 4
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary)
    return 0
