"""The Workarea's web server: Django's WSGI app on cheroot, on the instance's web port.

Connections are received as esync_site.connection_reception describes: a worker thread sees a
connection only once its request head has arrived, so idle or slow sockets hold no worker.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from cheroot import wsgi
from cheroot.workers.threadpool import _SHUTDOWNREQUEST, WorkerThread
from django.conf import settings

from esync_site.connection_reception import ReceivingServer

log = logging.getLogger("esync.web")


def stop_on_first_signal() -> None:
    """SIGINT or SIGTERM stops a cheroot server once: the first raises KeyboardInterrupt, on
    which safe_start() stops the server cleanly (calling stop() from the handler would wait on
    the very loop the handler interrupted); later ones are ignored, or one arriving during
    that stop would cut it short and leave the server's threads running."""

    def stop(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def serve_until_stopped(server: wsgi.Server) -> None:
    """Serve until SIGINT or SIGTERM (see stop_on_first_signal), then stop cleanly.

    A signal that lands while cheroot is still starting makes safe_start()'s stop() a no-op
    (the server is not "ready" yet), and cheroot's pool adds the worker threads it started to
    its list only once they are all ready: either way idle non-daemon workers would keep the
    process alive. So the pool is stopped here too, and any worker thread still alive gets a
    shutdown request of its own (cheroot's private sentinel, what the pool itself sends)."""
    try:
        server.safe_start()
    except KeyboardInterrupt:
        server.requests.stop(timeout=5)
        _stop_stray_workers(server)
        log.info("Stopped.")


def _stop_stray_workers(server: wsgi.Server, within: float = 10.0) -> None:
    """Every cheroot worker thread still alive gets a shutdown request and is waited for a
    moment, again and again until two looks a moment apart find none. A signal that cut a
    worker's start() short leaves a thread not yet alive when looked for, which then takes
    a request meant for another (seen under load, about one stop in five); requests left
    over are harmless."""
    deadline = time.monotonic() + within
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        stray = [t for t in threading.enumerate()
                 if isinstance(t, WorkerThread) and t.is_alive()]
        quiet = 0 if stray else quiet + 1
        for _ in stray:
            server.requests._queue.put(_SHUTDOWNREQUEST)
        for thread in stray:
            thread.join(timeout=0.2)
        time.sleep(0.05)


def run_web() -> None:
    from esync_site.wsgi import application

    config = settings.ESYNC
    server = ReceivingServer((config.web_host, config.web_port), application, numthreads=10,
                             server_name=f"esync-{config.name}", timeout=10)

    stop_on_first_signal()
    log.info("Workarea of %s at http://%s:%s/", config.name, config.web_host, config.web_port)
    serve_until_stopped(server)
