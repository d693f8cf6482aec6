"""Starting the instance's Celery worker and beat in the current process."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def _ensure_broker_folders() -> None:
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)


def run_worker(node: str | None = None) -> int:
    """The instance's worker; `node` names an extra one (runs still go one at a time)."""
    from esync_site.celery import app

    _ensure_broker_folders()
    suffix = f"-{node}" if node else ""
    app.worker_main([
        "worker", "--loglevel=INFO", "--pool=threads", "--concurrency=4",
        # Workers of an instance need not mingle or gossip, and both slow start and stop.
        "--without-mingle", "--without-gossip",
        f"--hostname=esync-{settings.ESYNC.name}{suffix}@%h",
    ])
    return 0


def run_beat() -> int:
    from esync_site.celery import app

    _ensure_broker_folders()
    app.start(["beat", "--loglevel=INFO", f"--scheduler={settings.CELERY_BEAT_SCHEDULER}"])
    return 0
