"""What View All Synchronization Configurations shows, in a fixed number of queries however
many relationships and profiles there are: one for the relationships (with their certificate
and last run's id), one for the profiles (with their last run's and last full sync's ids), one
for those runs, one for unreviewed collisions."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from profiles.models import Profile
from relationships.initial_sync import force_prerequisites_missing
from relationships.models import Relationship
from syncengine.collision_review import has_unreviewed
from syncengine.models import SyncRun

FULL_SYNC_DONE = Q(kind=SyncRun.Kind.FULL_SYNC,
                   status__in=[SyncRun.Status.SUCCESS, SyncRun.Status.WARNING])


def _latest(**filters) -> Subquery:
    return Subquery(SyncRun.objects.filter(**filters).order_by("-id").values("id")[:1])


def _profiles_with_last_runs():
    return Profile.objects.annotate(
        last_run_id=_latest(profile=OuterRef("pk")),
        last_full_id=Subquery(SyncRun.objects.filter(FULL_SYNC_DONE, profile=OuterRef("pk"))
                              .order_by("-id").values("id")[:1]))


def configurations_screen() -> dict:
    relationships = list(
        Relationship.objects.select_related("certificate")
        .annotate(last_run_id=_latest(relationship=OuterRef("pk")))
        .prefetch_related(Prefetch("profiles", queryset=_profiles_with_last_runs()))
        .order_by("id"))
    profiles = [p for r in relationships for p in r.profiles.all()]
    wanted = {r.last_run_id for r in relationships} | {p.last_run_id for p in profiles} | {
        p.last_full_id for p in profiles}
    runs = SyncRun.objects.in_bulk([i for i in wanted if i is not None])
    blocks = [{
        "relationship": r, "last_run": runs.get(r.last_run_id),
        "force_available": not force_prerequisites_missing(r, len(relationships)),
        "profiles": [{"profile": p, "last_run": runs.get(p.last_run_id),
                      "last_full": runs.get(p.last_full_id)} for p in r.profiles.all()],
    } for r in relationships]
    return {"blocks": blocks, "unreviewed_collisions": has_unreviewed()}


def profile_states() -> list[dict]:
    """Each profile's row state as the screen's script refreshes it."""
    profiles = list(_profiles_with_last_runs())
    runs = SyncRun.objects.in_bulk([i for p in profiles for i in (p.last_run_id, p.last_full_id)
                                    if i is not None])
    return [row_state(p, runs.get(p.last_run_id), runs.get(p.last_full_id)) for p in profiles]


def row_state(profile: Profile, last_run: SyncRun | None, last_full: SyncRun | None) -> dict:
    def when(run: SyncRun | None) -> str:
        moment = run and (run.ended_at or run.started_at or run.created_at)
        return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "Never"

    return {
        "id": profile.id,
        "status": last_run.status if last_run else "",
        "status_label": last_run.get_status_display() if last_run else "",
        "running": bool(last_run and not last_run.finished),
        "run_url": reverse("sync:run", args=[last_run.id]) if last_run else "",
        "last_run": when(last_run) if last_run else "",
        "last_full": when(last_full) if last_full else "Never",
    }
