"""A trusted peer's hello, and a Workarea page, with 0 and then N idle sockets open.

    python bench/idle_connections.py [--idle 50] [--repeat 5] [--timeout 120]

Builds two instances that trust each other (SQLite), runs the destination's sync service
(`esync syncservice`) and web server (`esync web`), and times, from the source's client
certificate over mutual TLS, GET /esync/v1/hello on the sync port, and GET /accounts/login/ on
the web port: first with no other connection open, then with `--idle` plain TCP sockets that
never send anything open to each port (plus a tenth as many that sent half a TLS ClientHello,
or half an HTTP request head). Each figure is the median and the slowest of `--repeat`
requests, each on a new connection; a request that takes longer than `--timeout` seconds is
reported as timed out. Everything lives in a temporary folder, removed after.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import ssl
import statistics
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from initialsync import ESYNC, clean_up, compile_project, create_pair, wait_for_port

PARTIAL_HTTP = b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def partial_client_hello() -> bytes:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    with suppress(ssl.SSLWantReadError):  # it waits for the ServerHello that never comes
        tls.do_handshake()
    hello = outgoing.read()
    return hello[:len(hello) // 2]


def open_idle(port: int, count: int, first_bytes: bytes = b"") -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if first_bytes:
            sock.sendall(first_bytes)
        sockets.append(sock)
    return sockets


def timed(make_connection, path: str, timeout: float) -> float | None:
    """Seconds to a complete 200 answer on a new connection; None past `timeout`."""
    started = time.perf_counter()
    connection = make_connection(timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}")
    except (TimeoutError, ConnectionError, ssl.SSLError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return time.perf_counter() - started


def figures(make_connection, path: str, repeat: int, timeout: float) -> str:
    times = [timed(make_connection, path, timeout) for _ in range(repeat)]
    done = [t for t in times if t is not None]
    if not done:
        return f"all {repeat} timed out (> {timeout:.0f} s)"
    text = f"median {statistics.median(done) * 1000:8.1f} ms   slowest {max(done) * 1000:8.1f} ms"
    if len(done) < repeat:
        text += f"   ({repeat - len(done)} of {repeat} timed out, > {timeout:.0f} s)"
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    compile_project()
    root = Path(tempfile.mkdtemp(prefix="esync-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        homes, ports = create_pair(root, "sqlite", "", [])
        web_port, sync_port = ports["destination"]
        log = open(root / "processes.log", "w")  # noqa: SIM115
        for command in ("syncservice", "web"):
            processes.append(subprocess.Popen(
                [*ESYNC, "--home", str(homes["destination"]), command], stdout=log, stderr=log))
        wait_for_port(sync_port)
        wait_for_port(web_port)

        keys = homes["source"] / "keys" / "all"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        context.load_cert_chain(keys / "client.crt", keys / "client.key")
        context.load_verify_locations(homes["destination"] / "keys" / "all" / "server.crt")

        def sync(timeout: float) -> http.client.HTTPConnection:
            return http.client.HTTPSConnection("127.0.0.1", sync_port, context=context,
                                               timeout=timeout)

        def web(timeout: float) -> http.client.HTTPConnection:
            return http.client.HTTPConnection("127.0.0.1", web_port, timeout=timeout)

        timed(sync, "/esync/v1/hello", args.timeout)  # warm up: Django's first request
        timed(web, "/accounts/login/", args.timeout)
        for idle in (0, args.idle):
            extra = max(1, idle // 10) if idle else 0
            sockets = (open_idle(sync_port, idle) + open_idle(sync_port, extra,
                                                              partial_client_hello())
                       + open_idle(web_port, idle) + open_idle(web_port, extra, PARTIAL_HTTP))
            try:
                label = f"{idle:>3} idle (+{extra} half-sent) per port"
                print(f"{label}   sync hello  "
                      f"{figures(sync, '/esync/v1/hello', args.repeat, args.timeout)}")
                print(f"{label}   web login   "
                      f"{figures(web, '/accounts/login/', args.repeat, args.timeout)}")
            finally:
                for sock in sockets:
                    sock.close()
    finally:
        clean_up(processes, [], "", root)


if __name__ == "__main__":
    main()
