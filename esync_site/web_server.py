"""The Workarea's web server: Django's WSGI app on cheroot, on the instance's web port."""

from __future__ import annotations

import logging
import signal

from cheroot import wsgi
from django.conf import settings

log = logging.getLogger("esync.web")


def run_web() -> None:
    from esync_site.wsgi import application

    config = settings.ESYNC
    server = wsgi.Server((config.web_host, config.web_port), application, numthreads=10,
                         server_name=f"esync-{config.name}")

    def stop(signum, frame):
        # safe_start() stops the server cleanly on KeyboardInterrupt; calling stop() from
        # the handler instead would wait on the very loop the handler interrupted.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    log.info("Workarea of %s at http://%s:%s/", config.name, config.web_host, config.web_port)
    server.safe_start()
