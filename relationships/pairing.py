"""Create Synchronization Server Relationship: the wizard's three steps as one service.

Step 1 connects (hello and its checks, with the chosen certificate); step 2 lists the remote's
databases; step 3 creates the relationship with its copy direction. Creating pairs the two
instances' server numbers at once; it does not copy anything (that is the initial sync).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from certificates.connection_check import ConnectionReport, check_connection
from certificates.models import TrustedPeer
from esync_site.refusal import Refusal
from relationships import announcements, numbering
from relationships.models import Relationship
from syncengine.peer_client import PeerClient, parse_address


class RelationshipRefused(Refusal):
    pass


def connect(address: str, peer: TrustedPeer | None = None) -> ConnectionReport:
    """Step 1. With no certificate chosen, any trusted peer's that matches is accepted."""
    return check_connection(address, peer)


def choose_certificate(name_or_id: str | None) -> TrustedPeer:
    peers = list(TrustedPeer.objects.all())
    if name_or_id:
        peers = [p for p in peers if name_or_id in (p.name, str(p.server_id), str(p.id))]
    if len(peers) != 1:
        raise RelationshipRefused(
            "Choose the certificate (trusted peer) to connect with: "
            + (", ".join(p.name for p in TrustedPeer.objects.all()) or
               "none is trusted yet — apply the peer's certificates on the Security "
               "Configurator first"))
    return peers[0]


def create_relationship(address: str, peer: TrustedPeer, direction: str,
                        remote_database: str | None = None, remote_site: str = "default",
                        local_site: str = "default") -> Relationship:
    """Step 3: after connecting again, agree server numbers and store the relationship."""
    if not settings.ESYNC.can_initiate:
        raise RelationshipRefused(
            "This instance is set up as a server outside the firewall (can_initiate = false): "
            "it only answers. Create the relationship on the server inside the firewall.")
    if direction not in Relationship.Direction.values:
        raise RelationshipRefused("The initial direction is upload or download.")
    host, port = parse_address(address)
    report = connect(address, peer)
    databases = [d["name"] for d in report.databases]
    database = remote_database or (databases[0] if databases else "")
    if database not in databases:
        raise RelationshipRefused(f"The remote has no database {database!r} (it offers: "
                                  f"{', '.join(databases)}).")
    if remote_site not in [s["name"] for s in report.sites]:
        raise RelationshipRefused(f"The remote has no site {remote_site!r}.")
    if Relationship.objects.filter(local_site=local_site, remote_server_id=report.server_id,
                                   remote_site=remote_site).exists():
        raise RelationshipRefused(f"A relationship between {local_site} and "
                                  f"{report.peer_name}/{remote_site} already exists.")
    we_are_source = direction == Relationship.Direction.UPLOAD
    answer = PeerClient.for_peer(peer, host, port).post_json("/pair", {
        **numbering.current().as_dict(), "you_are": "destination" if we_are_source else "source",
    })
    our_number, highest = answer.get("your_number"), answer.get("highest_known")
    if type(our_number) is not int or type(highest) is not int or \
            not 1 <= our_number <= highest <= numbering.MAX_SERVER_NUMBER or \
            highest > max(numbering.current().highest_known, our_number) \
            + numbering.MAX_NUMBER_JUMP or answer.get("my_number") == our_number:
        raise RelationshipRefused("The peer answered the pairing with server numbers this "
                                  "instance does not accept (out of range, an implausible "
                                  "jump, or its own number).")
    with transaction.atomic():
        numbering.adopt(our_number, highest)
        relationship = Relationship.objects.create(
            local_site=local_site, remote_host=host, remote_port=port,
            remote_server_id=report.server_id, remote_name=report.peer_name,
            remote_database=database, remote_site=remote_site, certificate=peer,
            initial_direction=direction,
        )
    # The peer learns of it now (its screen lists it); every run announces it again.
    announcements.announce_quietly(relationship)
    return relationship
