"""Starting the instance's Celery worker and beat in the current process."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def _ensure_broker_folders() -> None:
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)


def run_worker() -> int:
    from esync_site.celery import app

    _ensure_broker_folders()
    app.worker_main([
        "worker", "--loglevel=INFO", "--pool=threads", "--concurrency=4",
        # One worker per instance: nothing to mingle or gossip with, and both slow start/stop.
        "--without-mingle", "--without-gossip",
        f"--hostname=esync-{settings.ESYNC.name}@%h",
    ])
    return 0


def run_beat() -> int:
    from esync_site.celery import app

    _ensure_broker_folders()
    app.start(["beat", "--loglevel=INFO", f"--scheduler={settings.CELERY_BEAT_SCHEDULER}"])
    return 0
