"""The sync service: the peer API over HTTPS with client certificates required.

cheroot's built-in TLS adapter verifies the client certificate against the trust store and
hands it to Django as SSL_CLIENT_CERT. The adapter rebuilds its TLS context whenever the trust
stamp changes (a peer applied or removed, our keys regenerated), so trust changes take effect
on the next connection without a restart.

Connections are received as esync_site.connection_reception describes: the TLS handshake and
the request head are done off the workers, each within its own timeout, so idle or slow
sockets cannot delay a trusted peer's request.
"""

from __future__ import annotations

import logging
import time

from cheroot.ssl.builtin import BuiltinSSLAdapter
from django.conf import settings
from django.db import close_old_connections

from certificates.identities import IdentityMissing, identity_for
from certificates.trust import server_context, trust_version
from esync_site.connection_reception import ReceivingServer
from esync_site.web_server import serve_until_stopped, stop_on_first_signal
from syncengine.peer_auth import SYNC_SERVICE_ENVIRON_KEY

log = logging.getLogger("esync.syncservice")
STREAMED_BODY_LENGTH = 2**62


class PinnedTrustSSLAdapter(BuiltinSSLAdapter):
    def __init__(self) -> None:
        identity = identity_for("server")
        super().__init__(str(identity.certificate_path), str(identity.key_path))
        self._trust_version: str | None = None
        self._refresh()

    def _refresh(self) -> None:
        version = trust_version()
        if version == self._trust_version:
            return
        close_old_connections()
        try:
            self.context = server_context()
        except (IdentityMissing, OSError, ValueError) as error:
            log.error("Keeping the previous TLS settings: %s", error)
            return
        self._trust_version = version
        log.info("TLS context loaded (trust version %s)", version or "initial")

    def current_context(self):
        """The TLS context for a new connection, rebuilt first if trust has changed."""
        self._refresh()
        return self.context

    def wrap(self, sock):
        self._refresh()
        return super().wrap(sock)


def sync_service_app(environ, start_response):
    """Django, told that the request came through the sync service."""
    from esync_site.wsgi import application

    environ[SYNC_SERVICE_ENVIRON_KEY] = "1"
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" and \
            not environ.get("CONTENT_LENGTH"):
        # A streamed body (the initial sync's database, sent as it is read): cheroot decodes
        # the chunks and ends the input at the last one, but Django reads no body without a
        # length, so it gets one no body can reach. Endpoints with a size limit refuse it.
        environ["CONTENT_LENGTH"] = str(STREAMED_BODY_LENGTH)
    return application(environ, start_response)


def _wait_for_identity() -> None:
    announced = False
    while True:
        try:
            identity_for("server")
            return
        except IdentityMissing as missing:
            if not announced:
                log.warning("%s The sync service starts once it exists.", missing)
                announced = True
            time.sleep(2)


def run_sync_service() -> None:
    config = settings.ESYNC

    stop_on_first_signal()
    try:
        _wait_for_identity()
    except KeyboardInterrupt:
        return
    from syncengine.resource_files import remove_stale_incoming

    try:  # what transfers cut short or runs ended left behind
        removed = remove_stale_incoming()
    except OSError as error:  # the service answers anyway; a transfer says what is wrong
        log.warning("Could not remove stale incoming uploads: %s", error)
        removed = []
    if removed:
        log.info("Removed %d stale incoming upload(s): %s", len(removed),
                 ", ".join(removed[:10]))
    adapter = PinnedTrustSSLAdapter()
    # The timeout is each read or write of a request being served (streamed bodies are slow);
    # the handshake and the request head have their own (ReceptionLimits).
    server = ReceivingServer((config.sync_host, config.sync_port), sync_service_app,
                             numthreads=8, server_name=f"esync-{config.name}-sync",
                             timeout=30, tls_context=adapter.current_context)
    server.ssl_adapter = adapter
    log.info("Sync service of %s at https://%s:%s/esync/v1/", config.name, config.sync_host,
             config.sync_port)
    serve_until_stopped(server)
