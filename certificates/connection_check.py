"""Test connection: hello to a peer, then the checks that must hold before anything syncs.

Used by `esync certs test`, the Security Configurator's Test connection button, and (later)
the relationship wizard's Connect step. Each failure raises its own PeerError.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from certificates.models import TrustedPeer
from syncengine.instance_clock import reported_version, same_major_minor, utc_now
from syncengine.peer_client import PeerClient, parse_address
from syncengine.peer_errors import ClockSkew, NoViableSites, PeerProtocolError, VersionMismatch

MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class ConnectionReport:
    host: str
    port: int
    peer_name: str
    server_id: str
    server_number: int | None
    version: str
    clock_difference_seconds: float
    sites: list[dict]
    databases: list[dict]

    @property
    def summary(self) -> str:
        return (f"Connection OK: {self.peer_name} at {self.host}:{self.port} (esync "
                f"{self.version}, clocks {abs(self.clock_difference_seconds):.0f}s apart, "
                f"sites: {', '.join(s['name'] for s in self.sites)}).")

    def as_dict(self) -> dict:
        return {"ok": True, "message": self.summary, **asdict(self)}


def check_connection(address: str, peer: TrustedPeer | None = None) -> ConnectionReport:
    """Hello to HOST[:PORT] pinned to `peer`'s certificate (any trusted peer's if None)."""
    host, port = parse_address(address)
    if peer is None:
        client = PeerClient.for_any_trusted_peer(host, port)
    else:
        client = PeerClient.for_peer(peer, host, port)
    sent_at = utc_now()
    hello = client.get_json("/hello")
    received_at = utc_now()
    try:
        their_time = dt.datetime.fromisoformat(hello["utc_now"])
        version, sites = str(hello["version"]), list(hello["sites"])
    except (KeyError, TypeError, ValueError) as error:
        raise PeerProtocolError(f"The peer at {host}:{port} sent a malformed hello.") from error
    if not same_major_minor(version, reported_version()):
        raise VersionMismatch(reported_version(), version)
    # Their clock read half-way through the round trip, compared with ours at that moment.
    difference = their_time - (sent_at + (received_at - sent_at) / 2)
    if abs(difference) > MAX_CLOCK_SKEW:
        raise ClockSkew(difference.total_seconds())
    if not sites:
        raise NoViableSites()
    return ConnectionReport(
        host=host, port=port, peer_name=hello.get("name", client.peer.name),
        server_id=hello.get("server_id", ""), server_number=hello.get("server_number"),
        version=version, clock_difference_seconds=difference.total_seconds(), sites=sites,
        databases=list(hello.get("databases", [])),
    )
