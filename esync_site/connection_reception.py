"""Connections are received before any worker thread sees them, so idle sockets cost no worker.

cheroot, as it comes, does the TLS handshake of each new connection on its accept loop (one
socket that never starts TLS holds every other connection back for the whole socket timeout)
and hands each new connection to a worker thread at once (one that never sends its request
holds that worker as long). Here one reception thread holds every connection that is not yet a
request: it does the TLS handshake without blocking, then collects the request head (request
line and headers) the same way, for new connections and kept-alive ones alike. Only a
connection whose request head has fully arrived goes to a worker. Each stage has a deadline
counted from its start, not from the last byte (a client sending a byte now and then does not
extend it), and the number of connections waiting is capped per remote address and in all:
the oldest waiting is closed to make room for a new one.

The request body is read by the worker, with the server's socket timeout on each read.

This relies on cheroot internals, checked against cheroot 11.1: HTTPServer.prepare() making
`_connections` (replaced here after it), ConnectionManager._from_server_socket() (the accept
hook of its select loop), ConnectionManager.put() (kept-alive connections coming back),
HTTPConnection(server, sock, makefile) and cheroot.makefile's StreamReader/StreamWriter over
socket.SocketIO.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from cheroot import connections, wsgi
from cheroot.makefile import StreamReader, StreamWriter

log = logging.getLogger("esync.connections")

PLAIN_HTTP_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: 83\r\n\r\n"
    b"The client sent a plain HTTP request, but this server only speaks HTTPS on this port."
)
OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass(frozen=True)
class ReceptionLimits:
    """How long a connection may take to become a request, and how many may wait at once."""

    handshake_timeout: float = 10.0  # seconds from accept to the end of the TLS handshake
    request_head_timeout: float = 10.0  # seconds to the complete request head, once ready
    max_head_bytes: int = 64 * 1024  # a longer request head is refused (413/414) by cheroot
    max_waiting_per_address: int = 100
    max_waiting: int = 500


class HeldBytesSocket:
    """The socket as a connection's reader sees it: first the bytes reception read ahead."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.held = bytearray()

    def recv_into(self, buffer, *args, **kwargs) -> int:
        if self.held:
            count = min(len(buffer), len(self.held))
            buffer[:count] = self.held[:count]
            del self.held[:count]
            return count
        return self.sock.recv_into(buffer, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.sock, name)


class _Waiting:
    """One connection in reception: handshaking, or collecting its request head."""

    __slots__ = ("address", "conn", "deadline", "events", "handshaking", "held", "port",
                 "sock", "ssl_env")

    def __init__(self, sock: socket.socket, address: str, port: int, deadline: float) -> None:
        self.sock = sock
        self.address, self.port = address, port
        self.deadline = deadline
        self.handshaking = False
        self.held = HeldBytesSocket(sock)
        self.conn = None  # the HTTPConnection, once it has served a request
        self.ssl_env: dict = {}
        self.events = 0


def _head_complete(data: bytes) -> bool:
    return b"\r\n\r\n" in data or b"\n\n" in data


class Reception:
    """The thread that holds connections until their request head is in (see module doc)."""

    def __init__(self, server: wsgi.Server, limits: ReceptionLimits,
                 tls_context: Callable[[], ssl.SSLContext] | None) -> None:
        self._server = server
        self._limits = limits
        self._tls_context = tls_context
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._incoming: deque = deque()
        self._waiting: dict[_Waiting, None] = {}  # in the order they began waiting
        self._per_address: Counter[str] = Counter()
        self._stopping = False
        self._next_expiry = 0.0
        self._evicted = 0
        self._evictions_logged_at = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"{server.server_name}-reception")

    def start(self) -> None:
        self._thread.start()

    def has_room(self) -> bool:
        return len(self._waiting) + len(self._incoming) < self._limits.max_waiting

    def admit(self, sock: socket.socket, peer) -> None:
        """A connection just accepted (called on cheroot's accept loop)."""
        address, port = (peer[0], peer[1]) if isinstance(peer, tuple) else ("", 0)
        self._hand_in(("new", sock, address, port))

    def readmit(self, conn) -> None:
        """A kept-alive connection whose response has gone (called on a worker thread)."""
        self._hand_in(("again", conn))

    def _hand_in(self, item: tuple) -> None:
        with self._lock:
            if not self._stopping:
                self._incoming.append(item)
                item = None
        if item is not None:
            self._close_item(item)
            return
        with suppress(OSError):  # a wake-up already pending (BlockingIOError), or stopping
            self._wake_w.send(b"\0")

    def stop(self) -> None:
        """Stop the thread and close every connection still waiting."""
        with self._lock:
            self._stopping = True
        with suppress(OSError):
            self._wake_w.send(b"\0")
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        for entry in list(self._waiting):
            self._close(entry)
        self._waiting.clear()
        while self._incoming:
            self._close_item(self._incoming.popleft())
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # The reception thread.

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._turn()
            except Exception:
                log.exception("Reception went on after an unexpected error")
                time.sleep(0.05)

    def _turn(self) -> None:
        now = time.monotonic()
        timeout = max(0.0, min(0.5, self._next_expiry - now)) if self._waiting else 0.5
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                with suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
            elif key.data in self._waiting:
                self._advance(key.data)
        while self._incoming and not self._stopping:
            self._take(self._incoming.popleft())
        now = time.monotonic()
        if now >= self._next_expiry:
            self._expire(now)

    def _take(self, item: tuple) -> None:
        now = time.monotonic()
        if item[0] == "again":
            conn = item[1]
            entry = _Waiting(conn.socket, conn.remote_addr or "", conn.remote_port or 0,
                             now + self._limits.request_head_timeout)
            entry.conn, entry.held, entry.ssl_env = conn, conn.esync_held, conn.ssl_env
        else:
            _, sock, address, port = item
            entry = _Waiting(sock, address, port, now)
            try:
                sock.setblocking(False)
                if self._tls_context is not None:
                    entry.sock = self._tls_context().wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False)
                    entry.held = HeldBytesSocket(entry.sock)
                    entry.handshaking = True
                    entry.deadline = now + self._limits.handshake_timeout
                else:
                    entry.deadline = now + self._limits.request_head_timeout
            except Exception as error:  # no TLS context to be had: the connection is dropped
                log.error("Could not receive a connection from %s: %s", address, error)
                sock.close()
                return
        entry.sock.setblocking(False)
        self._make_room(entry.address)
        self._waiting[entry] = None
        self._per_address[entry.address] += 1
        self._next_expiry = min(self._next_expiry, entry.deadline)
        self._advance(entry)

    def _make_room(self, address: str) -> None:
        limits = self._limits
        if self._per_address[address] >= limits.max_waiting_per_address:
            self._evict(next(e for e in self._waiting if e.address == address))
        while len(self._waiting) >= limits.max_waiting:
            self._evict(next(iter(self._waiting)))

    def _evict(self, entry: _Waiting) -> None:
        self._drop(entry)
        self._evicted += 1
        now = time.monotonic()
        if now - self._evictions_logged_at >= 60:
            log.warning("Closed %d waiting connection(s) to make room (at most %d waiting, "
                        "%d from one address); the latest from %s", self._evicted,
                        self._limits.max_waiting, self._limits.max_waiting_per_address,
                        entry.address)
            self._evicted, self._evictions_logged_at = 0, now

    def _expire(self, now: float) -> None:
        soonest = now + 0.5
        for entry in list(self._waiting):
            if entry.deadline <= now:
                log.debug("Closed a connection from %s: no complete request in time",
                          entry.address)
                self._drop(entry)
            else:
                soonest = min(soonest, entry.deadline)
        self._next_expiry = soonest

    def _advance(self, entry: _Waiting) -> None:
        """Take the connection as far as it goes without waiting; hand it over when ready."""
        try:
            if entry.handshaking and not self._handshake(entry):
                return
            if self._read_head(entry):
                self._hand_over(entry)
        except Exception:
            log.exception("Dropped a connection from %s after an unexpected error",
                          entry.address)
            self._drop(entry)

    def _handshake(self, entry: _Waiting) -> bool:
        try:
            entry.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._watch(entry, selectors.EVENT_READ)
            return False
        except ssl.SSLWantWriteError:
            self._watch(entry, selectors.EVENT_WRITE)
            return False
        except ssl.SSLError as error:
            if "http request" in str(error).lower():
                self._answer_plain_http(entry)
            log.debug("TLS handshake with %s failed: %s", entry.address, error)
            self._drop(entry)
            return False
        except OSError as error:
            log.debug("Connection from %s lost during the TLS handshake: %s", entry.address,
                      error)
            self._drop(entry)
            return False
        entry.handshaking = False
        entry.ssl_env = self._server.ssl_adapter.get_environ(entry.sock)
        entry.deadline = time.monotonic() + self._limits.request_head_timeout
        self._next_expiry = min(self._next_expiry, entry.deadline)
        return True

    def _read_head(self, entry: _Waiting) -> bool:
        """Read what has arrived; true once the request head is complete (or too long)."""
        held = entry.held.held
        limit = self._limits.max_head_bytes
        while len(held) < limit and not _head_complete(self._buffered(entry) + held):
            try:
                chunk = entry.sock.recv(min(16384, limit - len(held)))
            except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
                self._watch(entry, selectors.EVENT_READ)
                return False
            except ssl.SSLWantWriteError:
                self._watch(entry, selectors.EVENT_WRITE)
                return False
            except (OSError, ssl.SSLError):
                self._drop(entry)
                return False
            if not chunk:  # the client closed the connection
                self._drop(entry)
                return False
            held += chunk
        return True

    @staticmethod
    def _buffered(entry: _Waiting) -> bytes:
        """What the connection's reader has already buffered (pipelined requests)."""
        if entry.conn is not None and entry.conn.rfile.has_data():
            return entry.conn.rfile.peek(1)
        return b""

    def _watch(self, entry: _Waiting, events: int) -> None:
        if entry.events == events:
            return
        if entry.events:
            self._selector.modify(entry.sock, events, entry)
        else:
            self._selector.register(entry.sock, events, entry)
        entry.events = events

    def _forget(self, entry: _Waiting) -> None:
        if entry.events:
            with suppress(KeyError, ValueError, OSError):
                self._selector.unregister(entry.sock)
            entry.events = 0
        if entry in self._waiting:
            del self._waiting[entry]
            self._per_address[entry.address] -= 1
            if self._per_address[entry.address] <= 0:
                del self._per_address[entry.address]

    def _drop(self, entry: _Waiting) -> None:
        self._forget(entry)
        self._close(entry)

    @staticmethod
    def _close(entry: _Waiting) -> None:
        with suppress(OSError):
            (entry.conn or entry.sock).close()

    @staticmethod
    def _close_item(item: tuple) -> None:
        with suppress(OSError):
            item[1].close()  # the HTTPConnection, or the socket just accepted

    @staticmethod
    def _answer_plain_http(entry: _Waiting) -> None:
        with suppress(OSError):  # past the TLS layer, onto the socket: the client speaks none
            socket.socket.send(entry.sock, PLAIN_HTTP_ANSWER)

    def _hand_over(self, entry: _Waiting) -> None:
        self._forget(entry)
        server = self._server
        entry.sock.settimeout(server.timeout)
        conn = entry.conn
        if conn is None:
            held = entry.held

            def makefile(sock, mode="r", bufsize=-1):
                if "r" in mode:
                    return StreamReader(held, mode, bufsize)
                return StreamWriter(sock, mode, bufsize)

            conn = server.ConnectionClass(server, entry.sock, makefile)
            conn.remote_addr, conn.remote_port = entry.address, entry.port
            conn.ssl_env = entry.ssl_env
            conn.esync_held = held
        server.process_conn(conn)


class _ReceivingConnections(connections.ConnectionManager):
    """cheroot's connection manager with its accept hook and keep-alive path sent to
    reception; its select loop is left watching the listening socket only."""

    def __init__(self, server: wsgi.Server, reception: Reception) -> None:
        super().__init__(server)
        self.reception = reception

    def _from_server_socket(self, server_socket):
        try:
            sock, peer = server_socket.accept()
        except OSError as error:  # including the listening socket's own timeout
            if error.errno in OUT_OF_DESCRIPTORS:
                log.warning("Cannot accept a connection: %s", error)
                time.sleep(0.1)
            return None
        self.reception.admit(sock, peer)
        return None

    def put(self, conn) -> None:
        self.reception.readmit(conn)

    @property
    def can_add_keepalive_connection(self) -> bool:
        return self.reception.has_room()

    def close(self) -> None:
        self.reception.stop()
        super().close()


class ReceivingServer(wsgi.Server):
    """cheroot's WSGI server with its connections received as this module describes.

    With `ssl_adapter` set (a cheroot BuiltinSSLAdapter), TLS contexts come from
    `tls_context()` per connection if given, else from the adapter's `context`; the adapter
    also gives each connection its SSL_* environ entries."""

    def __init__(self, bind_addr, wsgi_app, *, limits: ReceptionLimits | None = None,
                 tls_context: Callable[[], ssl.SSLContext] | None = None, **kwargs) -> None:
        kwargs.setdefault("request_queue_size", 128)
        super().__init__(bind_addr, wsgi_app, **kwargs)
        self.limits = limits or ReceptionLimits()
        self.tls_context = tls_context
        self.max_request_header_size = self.limits.max_head_bytes

    def prepare(self) -> None:
        super().prepare()
        given = self._connections
        context = self.tls_context
        if context is None and self.ssl_adapter is not None:
            adapter = self.ssl_adapter

            def context() -> ssl.SSLContext:
                return adapter.context

        reception = Reception(self, self.limits, context)
        self._connections = _ReceivingConnections(self, reception)
        given.close()
        reception.start()
