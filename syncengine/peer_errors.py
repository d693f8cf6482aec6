"""What can go wrong talking to a peer, each with a message an administrator can act on.

The wording follows the manual's troubleshooting table where it has one.
"""

from __future__ import annotations


class PeerError(Exception):
    """Base: `str(error)` is the full message, `code` a stable name for scripts and JSON."""

    code = "peer_error"


class NoEndpoint(PeerError):
    code = "no_endpoint"

    def __init__(self, host: str, port: int, detail: str) -> None:
        super().__init__(
            f"There was no endpoint listening at {host}:{port} ({detail}). The peer's sync "
            "service may be stopped (start it with `esync serve`), or the address or port is "
            "wrong, or a firewall is in the way."
        )


class IdentityCheckFailed(PeerError):
    code = "identity_check_failed"

    def __init__(self, host: str, port: int, expected: str) -> None:
        super().__init__(
            f"The identity check failed: the server at {host}:{port} did not present the "
            f"certificate trusted for {expected}. If that peer regenerated its certificates, "
            "apply its new export here; otherwise check the address."
        )


class CertificateRefused(PeerError):
    code = "certificate_refused"

    def __init__(self, host: str, port: int, detail: str = "") -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"The peer at {host}:{port} refused our certificate{why}: it does not trust this "
            "instance. Export our certificates (`esync certs export DIR`) and apply them on "
            "the peer (`esync certs apply DIR`)."
        )


class CertificateExpired(PeerError):
    code = "certificate_expired"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"The peer at {host}:{port} refused our certificate because it has expired. "
            "Regenerate ours (Discard existing keys, or `esync certs generate "
            "--discard-existing`) and apply the new export on every peer."
        )


class VersionMismatch(PeerError):
    code = "version_mismatch"

    def __init__(self, ours: str, theirs: str) -> None:
        super().__init__(
            f"esync versions differ: this instance runs {ours}, the peer runs {theirs}. The "
            "major.minor versions must match; upgrade the older one first (esync cannot "
            "upgrade a peer)."
        )


class ClockSkew(PeerError):
    code = "clock_skew"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The clocks of the two servers differ by {abs(seconds) / 60:.1f} minutes; they "
            "must be within 5 minutes of each other in UTC. Set both clocks right (NTP)."
        )


class NoViableSites(PeerError):
    code = "no_viable_sites"

    def __init__(self) -> None:
        super().__init__(
            "No viable CMS sites were found on the remote server. Initialise a site there "
            "(`esync init`) and check that its site root folder exists, then try again."
        )


class PeerProtocolError(PeerError):
    code = "protocol_error"


class NotAllowedByPeer(PeerError):
    """The peer refused the request as outside what our relationship may do there (its
    administrator's narrowing, or no profile announced for it): the run cannot go on, it is
    not one file's problem."""

    code = "not_allowed"
