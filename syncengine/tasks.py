"""Celery tasks: each takes a run id and calls one service; a run is claimed once."""

from celery.signals import worker_ready

from esync_site.celery import app


@app.task(name="esync.run_sync", acks_late=True)
def run_sync(run_id: int) -> None:
    from syncengine.run_dispatch import execute

    execute(run_id)


@worker_ready.connect
def close_interrupted_runs(**kwargs) -> None:
    """A run still "running" when the instance's (single) worker starts was cut off by a
    crash or a kill: say so, or it would block every later sync as "already running"."""
    from syncengine.runs import close_interrupted

    close_interrupted()
