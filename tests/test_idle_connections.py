"""Idle and slow sockets cannot delay a request (esync_site.connection_reception): first on a
ReceivingServer in this process with few workers and short deadlines, then on a real instance's
sync and web ports, with a trusted peer's mutual-TLS hello.

Bounds are generous (a request answers within 20 s; a deadline of 1 s is seen to close a socket
within 30 s): cheroot as it comes fails them by far (one idle socket held a TLS accept loop for
30 s; 50 held ten web workers for 50 s)."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from esync_site.connection_reception import ReceivingServer, ReceptionLimits
from tests.real_instances import wait_for_port

ANSWER_WITHIN = 20.0
IDLE = 50
PARTIAL_HTTP = b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def hello_app(environ, start_response):
    body = f"hello {environ['PATH_INFO']} {environ.get('SSL_CLIENT_VERIFY', '-')}".encode()
    if environ["REQUEST_METHOD"] == "POST":
        received = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        body = hashlib.sha256(received).hexdigest().encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


@contextmanager
def receiving_server(limits: ReceptionLimits, adapter=None, threads: int = 2) -> Iterator[int]:
    server = ReceivingServer(("127.0.0.1", 0), hello_app, numthreads=threads, limits=limits,
                             server_name="esync-test", timeout=10)
    server.ssl_adapter = adapter
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server.bind_addr[1]
    finally:
        server.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def open_idle(port: int, count: int, first_bytes: bytes = b"") -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first_bytes:
            sock.sendall(first_bytes)
        sockets.append(sock)
    return sockets


def still_open(sock: socket.socket) -> bool:
    """Nothing to read and not closed: recv would wait."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(5)


def closed_by_server(sock: socket.socket, within: float = 30.0) -> bool:
    """The server closes the socket (EOF or reset) without sending it anything."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def plain_get(port: int, path: str = "/hello") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_WITHIN)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def partial_client_hello() -> bytes:
    """The first half of a real TLS ClientHello."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    return hello[:len(hello) // 2]


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "esync-test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    certificate_path, key_path = folder / "server.crt", folder / "server.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return certificate_path, key_path


# A ReceivingServer in this process.


def test_idle_and_half_sent_requests_hold_no_worker():
    with receiving_server(ReceptionLimits(), threads=2) as port, ExitStack() as stack:
        idle = open_idle(port, IDLE) + open_idle(port, 10, PARTIAL_HTTP)
        for sock in idle:
            stack.callback(sock.close)
        assert all(still_open(sock) for sock in idle)
        assert plain_get(port) == (200, b"hello /hello -")
        assert plain_get(port, "/again") == (200, b"hello /again -")


def test_a_request_head_must_arrive_within_its_deadline_however_it_trickles():
    limits = ReceptionLimits(request_head_timeout=1.0)
    with receiving_server(limits) as port:
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        trickling = socket.create_connection(("127.0.0.1", port), timeout=5)
        stop = threading.Event()

        def trickle() -> None:  # a byte every 0.2 s extends nothing
            for byte in PARTIAL_HTTP * 100:
                if stop.wait(0.2):
                    return
                try:
                    trickling.send(bytes([byte]))
                except OSError:
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            assert closed_by_server(idle)
            assert closed_by_server(trickling)
        finally:
            stop.set()
            sender.join(timeout=5)
            idle.close()
            trickling.close()
        assert plain_get(port) == (200, b"hello /hello -")


def test_the_oldest_waiting_connection_from_an_address_makes_room():
    limits = ReceptionLimits(request_head_timeout=120.0, max_waiting_per_address=3)
    with receiving_server(limits) as port, ExitStack() as stack:
        idle = open_idle(port, 5)
        for sock in idle:
            stack.callback(sock.close)
        assert closed_by_server(idle[0]) and closed_by_server(idle[1])
        assert all(still_open(sock) for sock in idle[2:])
        # The request makes room too (closing idle[2]), and is answered.
        assert plain_get(port) == (200, b"hello /hello -")


def test_kept_alive_and_pipelined_requests_are_answered_in_order():
    with receiving_server(ReceptionLimits()) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_WITHIN)
        for path in ("/one", "/two", "/three"):
            connection.request("GET", path)
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, f"hello {path} -".encode())
        connection.close()

        with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as sock:
            sock.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.count(b"HTTP/1.1 200 OK") == 2
        assert answer.index(b"hello /first") < answer.index(b"hello /second")


def test_a_body_sent_with_its_head_reaches_the_application_whole():
    body = bytes(range(256)) * 1000  # longer than the head reception reads ahead
    with receiving_server(ReceptionLimits()) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_WITHIN)
        for _ in range(2):  # the second on the kept-alive connection
            connection.request("POST", "/upload", body=body)
            response = connection.getresponse()
            assert response.read() == hashlib.sha256(body).hexdigest().encode()
        connection.close()


def test_a_request_head_past_the_limit_is_refused():
    limits = ReceptionLimits(max_head_bytes=4096)
    with receiving_server(limits) as port:
        status, _ = plain_get(port, "/" + "x" * 8000)
    assert status in (413, 414)


def test_over_tls_idle_and_half_handshakes_delay_no_one(tmp_path):
    certificate, key = self_signed(tmp_path)
    with receiving_server(ReceptionLimits(), BuiltinSSLAdapter(str(certificate), str(key)),
                          threads=2) as port, ExitStack() as stack:
        idle = open_idle(port, IDLE) + open_idle(port, 10, partial_client_hello())
        for sock in idle:
            stack.callback(sock.close)
        assert all(still_open(sock) for sock in idle)
        context = ssl.create_default_context(cafile=str(certificate))
        context.check_hostname = False
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context,
                                                 timeout=ANSWER_WITHIN)
        connection.request("GET", "/hello")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"hello /hello NONE")
        connection.close()

        with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as plain:
            plain.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = plain.recv(65536)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request")
        assert b"this server only speaks HTTPS on this port" in answer


# A real instance: its sync service (mutual TLS) and its web port.


@pytest.mark.slow
def test_a_trusted_hello_and_the_web_port_answer_while_dozens_of_sockets_sit_idle(
        real_instances, tmp_path):
    alpha, beta = real_instances("alpha"), real_instances("beta")
    for instance in (alpha, beta):
        instance.esync("certs", "generate")
    alpha.trust(beta, tmp_path)
    beta.trust(alpha, tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_cert_chain(alpha.home / "keys/all/client.crt", alpha.home / "keys/all/client.key")
    context.load_verify_locations(beta.home / "keys/all/server.crt")

    with beta.serving(), ExitStack() as stack:
        # `serve` is up once its web port answers; its sync service may start a moment later.
        wait_for_port(beta.sync_port)
        idle = (open_idle(beta.sync_port, IDLE)
                + open_idle(beta.sync_port, 5, partial_client_hello())
                + open_idle(beta.web_port, IDLE)
                + open_idle(beta.web_port, 10, PARTIAL_HTTP))
        for sock in idle:
            stack.callback(sock.close)
        assert all(still_open(sock) for sock in idle)

        hello = http.client.HTTPSConnection("127.0.0.1", beta.sync_port, context=context,
                                            timeout=ANSWER_WITHIN)
        hello.request("GET", "/esync/v1/hello")
        response = hello.getresponse()
        assert response.status == 200
        report = json.loads(response.read())
        assert report["name"] == "beta" and report["you_are"] == "alpha"
        hello.close()
        status, page = plain_get(beta.web_port, "/accounts/login/")
        assert status == 200 and b"<form" in page

        # The handshake and request-head deadlines (10 s) close them all, in time.
        deadline = time.monotonic() + 60
        assert all(closed_by_server(sock, max(1.0, deadline - time.monotonic()))
                   for sock in idle)
