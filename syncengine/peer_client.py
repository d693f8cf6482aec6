"""The one way to call a peer's sync service.

Our client certificate; the peer's server certificate pinned (never the system CA store);
connect and read timeouts; retries with backoff for idempotent calls only; streamed bodies;
and every failure turned into a typed PeerError with a plain message.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from certificates.identities import fingerprint_of_pem, identity_for
from certificates.models import TrustedPeer
from certificates.trust import client_context
from esync_site.whole_numbers import whole_number
from syncengine.instance_clock import reported_version
from syncengine.peer_errors import (
    CertificateExpired,
    CertificateRefused,
    IdentityCheckFailed,
    NoEndpoint,
    NotAllowedByPeer,
    PeerError,
    PeerProtocolError,
)

API_PREFIX = "/esync/v1"
DEFAULT_SYNC_PORT = 8732
REFUSED_ALERTS = ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_REQUIRED", "ACCESS_DENIED",
                  "CERTIFICATE_UNKNOWN", "DECRYPT_ERROR", "HANDSHAKE_FAILURE")


def parse_address(address: str, default_port: int = DEFAULT_SYNC_PORT) -> tuple[str, int]:
    """'host', 'host:port' or '[::1]:port' → (host, port)."""
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.lstrip(":") or str(default_port)
    elif address.count(":") == 1:
        host, port = address.split(":")
    else:
        host, port = address, str(default_port)
    number = whole_number(port)
    if not host or number is None or not 0 < number < 65536:
        raise ValueError(f"{address!r} is not a HOST or HOST:PORT address.")
    return host, number


@dataclass
class PeerResponse:
    status: int
    headers: dict[str, str]
    body: Iterator[bytes]


class PeerClient:
    """Calls one peer at host:port, accepting only the given trusted peers' server certificates."""

    def __init__(self, host: str, port: int, peers: Iterable[TrustedPeer], site: str = "default",
                 connect_timeout: float = 5, read_timeout: float = 60, retries: int = 2,
                 relationship_id: int | None = None, run_id: int | None = None) -> None:
        self.host, self.port = host, port
        # The answering side allows reads and writes by relationship, and writes by run.
        self.relationship_id, self.run_id = relationship_id, run_id
        self.peers = list(peers)
        if not self.peers:
            raise CertificateRefused(host, port, "no trusted peer certificate to check it with")
        self.site = site
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.retries = retries
        self.peer: TrustedPeer | None = None  # who answered, once connected
        self._own_headers: dict[str, str] | None = None
        # Once the peer has answered this client, it accepted the certificate: a connection
        # closed later is not its refusal of the certificate.
        self._answered = False

    @classmethod
    def for_peer(cls, peer: TrustedPeer, host: str, port: int, **options) -> PeerClient:
        return cls(host, port, [peer], **options)

    @classmethod
    def for_any_trusted_peer(cls, host: str, port: int, **options) -> PeerClient:
        return cls(host, port, TrustedPeer.objects.all(), **options)

    @property
    def expected(self) -> str:
        return " or ".join(p.name for p in self.peers)

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPSConnection:
        context = client_context([p.server_cert_pem for p in self.peers], self.site)
        connection = http.client.HTTPSConnection(self.host, self.port, context=context,
                                                 timeout=self.connect_timeout)
        try:
            connection.connect()
        except BaseException as error:
            connection.close()
            raise self._translate(error) from error
        connection.sock.settimeout(self.read_timeout)
        presented = ssl.DER_cert_to_PEM_cert(connection.sock.getpeercert(binary_form=True))
        presented_fingerprint = fingerprint_of_pem(presented)
        self.peer = next((p for p in self.peers
                          if p.server_fingerprint == presented_fingerprint), None)
        if self.peer is None:  # the context already pins; this is the second lock
            connection.close()
            raise IdentityCheckFailed(self.host, self.port, self.expected)
        return connection

    def _translate(self, error: BaseException) -> PeerError:
        translated = self._classify(error)
        # TLS 1.3 often shows a refused client certificate as a closed connection, without
        # the alert that says why. Our own certificate's expiry we can check ourselves.
        if isinstance(translated, CertificateRefused) and identity_for(
                "client", self.site).expired:
            return CertificateExpired(self.host, self.port)
        return translated

    def _classify(self, error: BaseException) -> PeerError:
        if isinstance(error, PeerError):
            return error
        if isinstance(error, ssl.SSLCertVerificationError):
            return IdentityCheckFailed(self.host, self.port, self.expected)
        if isinstance(error, ssl.SSLError):
            reason = (error.reason or str(error)).upper()
            if "CERTIFICATE_EXPIRED" in reason:
                return CertificateExpired(self.host, self.port)
            if any(alert in reason for alert in REFUSED_ALERTS):
                return CertificateRefused(self.host, self.port, reason.lower().replace("_", " "))
            if isinstance(error, ssl.SSLEOFError):
                return self._closed("the connection was closed during the handshake")
            return PeerProtocolError(f"TLS failed with {self.host}:{self.port}: {error}")
        if isinstance(error, ConnectionRefusedError):
            return NoEndpoint(self.host, self.port, "connection refused")
        if isinstance(error, socket.gaierror):
            return NoEndpoint(self.host, self.port, "the host name cannot be resolved")
        if isinstance(error, TimeoutError | socket.timeout):
            return NoEndpoint(self.host, self.port, "no answer in time")
        if isinstance(error, ConnectionResetError | BrokenPipeError |
                      http.client.RemoteDisconnected):
            return self._closed("the peer closed the connection")
        if isinstance(error, OSError):
            return NoEndpoint(self.host, self.port, error.strerror or str(error))
        return PeerProtocolError(f"Talking to {self.host}:{self.port} failed: {error}")

    def _closed(self, detail: str) -> PeerError:
        """The peer closed the connection without saying why: before it ever answered this
        client, TLS 1.3's way of refusing a certificate; after, something else."""
        if not self._answered:
            return CertificateRefused(self.host, self.port, detail)
        return PeerProtocolError(f"The peer at {self.host}:{self.port} closed the connection "
                                 "in the middle of a request without an answer (its log may "
                                 "say why)")

    def _answer_after_failed_send(self, connection: http.client.HTTPSConnection
                                  ) -> PeerError | None:
        """The peer's answer, if it sent one before it stopped reading our request: a server
        refuses a stream it cannot take at once, and says why, instead of reading it all."""
        try:
            connection.sock.settimeout(5)
            response = connection.getresponse()
        except Exception:  # noqa: BLE001 - no answer to read: the send's own error stands
            return None
        self._answered = True
        return self._error_from(response) if response.status >= 400 else None

    # -- requests -----------------------------------------------------------------------------

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        if self._own_headers is None:  # one query per client, not per request
            from relationships.server_identity import get_server_info

            self._own_headers = {
                "User-Agent": f"esync/{reported_version()}",
                "X-Esync-Version": reported_version(),
                "X-Esync-Server-Id": str(get_server_info().server_id),
            }
            if self.relationship_id is not None:
                self._own_headers["X-Esync-Relationship"] = str(self.relationship_id)
            if self.run_id is not None:
                self._own_headers["X-Esync-Run"] = str(self.run_id)
        return {**self._own_headers, **(extra or {})}

    @contextmanager
    def open(self, method: str, path: str,
             body: bytes | BinaryIO | Iterable[bytes] | None = None,
             headers: dict[str, str] | None = None) -> Iterator[PeerResponse]:
        """One streamed request: the response body is read in chunks as the caller goes.

        A file body is sent as it is read; give its Content-Length in `headers`. Any other
        iterable of bytes is sent with chunked transfer encoding as it is produced."""
        connection = self._connect()
        streamed = body is not None and not isinstance(body, bytes | bytearray) and \
            not hasattr(body, "read")
        try:
            try:
                connection.request(method, API_PREFIX + path, body=body,
                                   headers=self._headers(headers), encode_chunked=streamed)
            except (OSError, http.client.HTTPException) as error:
                raise (self._answer_after_failed_send(connection) or
                       self._translate(error)) from error
            except BaseException as error:
                raise self._translate(error) from error
            try:
                response = connection.getresponse()
            except BaseException as error:
                raise self._translate(error) from error
            self._answered = True
            if response.status >= 400:
                raise self._error_from(response)

            def chunks() -> Iterator[bytes]:
                try:
                    while chunk := response.read(64 * 1024):
                        yield chunk
                except BaseException as error:
                    raise self._translate(error) from error

            yield PeerResponse(response.status, dict(response.getheaders()), chunks())
        finally:
            connection.close()

    def _error_from(self, response: http.client.HTTPResponse) -> PeerError:
        raw = response.read(64 * 1024)
        try:
            payload = json.loads(raw)
            code, message = payload.get("error", ""), payload.get("message", "")
        except ValueError:
            code, message = "", raw[:200].decode(errors="replace")
        if code == "certificate_not_trusted":
            return CertificateRefused(self.host, self.port, message)
        if code == "not_allowed":
            return NotAllowedByPeer(
                f"The peer at {self.host}:{self.port} answered {response.status}: {message}")
        return PeerProtocolError(
            f"The peer at {self.host}:{self.port} answered {response.status}: "
            f"{message or response.reason}")

    def request_json(self, method: str, path: str, payload: object | None = None,
                     idempotent: bool | None = None) -> dict:
        """A JSON call. GET (or idempotent=True) is retried with backoff when the peer is
        unreachable; anything else is tried once, since it may have been applied."""
        idempotent = method == "GET" if idempotent is None else idempotent
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        attempts = 1 + (self.retries if idempotent else 0)
        for attempt in range(attempts):
            try:
                with self.open(method, path, body, headers) as response:
                    data = b"".join(response.body)
                break
            except NoEndpoint:
                if attempt + 1 == attempts:
                    raise
                time.sleep(0.5 * 2**attempt)
        return self._json_of(data)

    def _json_of(self, data: bytes) -> dict:
        try:
            return json.loads(data)
        except ValueError as error:
            raise PeerProtocolError(
                f"The peer at {self.host}:{self.port} answered something that is not JSON."
            ) from error

    def get_json(self, path: str) -> dict:
        return self.request_json("GET", path)

    def post_json(self, path: str, payload: object, idempotent: bool = False) -> dict:
        return self.request_json("POST", path, payload, idempotent)

    def post_bytes(self, path: str, body: bytes) -> dict:
        """POST raw bytes, read a JSON answer (tried once)."""
        with self.open("POST", path, body,
                       {"Content-Type": "application/octet-stream"}) as response:
            return self._json_of(b"".join(response.body))
