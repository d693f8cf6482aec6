"""Celery tasks: each takes a run id and calls one service; a run is claimed once."""

from celery.signals import beat_init, worker_ready

from esync_site.celery import app


@app.task(name="esync.run_sync", acks_late=True, bind=True)
def run_sync(self, run_id: int) -> None:
    from syncengine.run_dispatch import execute

    execute(run_id, worker=self.request.hostname or "")


@app.task(name="esync.run_scheduled_profile", acks_late=True)
def run_scheduled_profile(profile_id: int) -> None:
    """Beat's trigger for a scheduled profile (profiles.beat_entries)."""
    from profiles.scheduled_runs import start_scheduled_run

    start_scheduled_run(profile_id)


@worker_ready.connect
def close_interrupted_runs(sender=None, **kwargs) -> None:
    """A run still "running" under this worker's name when it starts was cut off by a crash
    or a kill: say so, or it would block every later sync as "already running". Then start
    what waits in the queue."""
    from syncengine.runs import close_interrupted, dispatch_next

    close_interrupted(getattr(sender, "hostname", None))
    dispatch_next()


@beat_init.connect
def follow_the_time_zone(**kwargs) -> None:
    """Beat starting: if esync.toml's time_zone changed, the profiles' wall-clock entries
    follow it before beat reads them."""
    from profiles.beat_entries import rebuild_entries_for_time_zone

    rebuild_entries_for_time_zone()
