"""Celery tasks: each takes a run id and calls one service; a run is claimed once."""

from esync_site.celery import app


@app.task(name="esync.run_sync", acks_late=True)
def run_sync(run_id: int) -> None:
    from relationships.initial_sync import execute

    execute(run_id)
