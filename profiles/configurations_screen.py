"""What View All Synchronization Configurations shows, in a fixed number of queries however
many relationships and profiles there are: one for the relationships (with their certificate
and last run), one for the profiles (with their last run and last full sync), one for
unreviewed collisions, two for the relationships peers hold with this instance ("Profiles of
PEER that write here": their announced profiles and this administrator's narrowing). Runs
are read through subqueries, never through lists of ids (which SQLite would split into
batches).

A profile row is rendered here, by one str.format of escaped values (PROFILE_ROW), not by the
template's tags: with a thousand profiles, a tag-per-cell row took most of the screen's 150 ms
budget.
Its Sync button submits the screen's one "sync-now" form (with the CSRF token) to its own URL.
"""

from __future__ import annotations

from html import escape

from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from profiles.models import Profile
from relationships import peer_grants
from relationships.initial_sync import force_prerequisites_missing
from relationships.models import PeerRelationship, Relationship
from syncengine.collision_review import has_unreviewed
from syncengine.models import SyncRun

FULL_SYNC_DONE = Q(kind=SyncRun.Kind.FULL_SYNC,
                   status__in=[SyncRun.Status.SUCCESS, SyncRun.Status.WARNING])
# status -> (icon, its text alternative)
STATUS_ICONS = {
    SyncRun.Status.SUCCESS: ("✓", "Success"),
    SyncRun.Status.WARNING: ("⚠", "Warning: some items were skipped"),
    SyncRun.Status.FAILED: ("✗", "Failed"),
    SyncRun.Status.RUNNING: ("⟳", "Running"),
    SyncRun.Status.QUEUED: ("⧗", "Queued: waiting to start"),
}
STATUS_LABELS = dict(SyncRun.Status.choices)


def _last(field: str, **filters) -> Subquery:
    return Subquery(SyncRun.objects.filter(**filters).order_by("-id").values(field)[:1])


def _profiles_with_last_runs():
    last_full = SyncRun.objects.filter(FULL_SYNC_DONE, profile=OuterRef("pk")).order_by("-id")
    return Profile.objects.annotate(
        last_run_id=_last("id", profile=OuterRef("pk")),
        last_run_status=_last("status", profile=OuterRef("pk")),
        last_run_ended=_last("ended_at", profile=OuterRef("pk")),
        last_full_ended=Subquery(last_full.values("ended_at")[:1]))


def _relationships_with_last_runs():
    return Relationship.objects.annotate(
        last_run_id=_last("id", relationship=OuterRef("pk")),
        last_run_status=_last("status", relationship=OuterRef("pk")),
        last_run_kind=_last("kind", relationship=OuterRef("pk"))).order_by("id")


def configurations_screen() -> dict:
    relationships = list(
        _relationships_with_last_runs().select_related("certificate")
        .prefetch_related(Prefetch("profiles", queryset=_profiles_with_last_runs())))
    base = reverse("sync:configurations")
    kinds = dict(SyncRun.Kind.choices)
    blocks = [{
        "relationship": r,
        "last_run": r.last_run_id and {
            "id": r.last_run_id, "status": r.last_run_status,
            "active": r.last_run_status in SyncRun.ACTIVE,
            "kind_label": kinds.get(r.last_run_kind, r.last_run_kind),
            "label": f"{kinds.get(r.last_run_kind, r.last_run_kind)} #{r.last_run_id}, "
                     f"{STATUS_LABELS.get(r.last_run_status, r.last_run_status)}",
            "icon": STATUS_ICONS.get(r.last_run_status, ("", ""))},
        "force_available": not force_prerequisites_missing(r, len(relationships)),
        "profiles": [profile_row_html(row_state(p, base), base) for p in r.profiles.all()],
    } for r in relationships]
    return {"blocks": blocks, "unreviewed_collisions": has_unreviewed(), "base": base,
            "log_icon": mark_safe(LOG_ICON), "peer_blocks": peer_blocks()}


ITEM_LABELS = dict(Profile.Item.choices)


def peer_blocks() -> list[dict]:
    """Per relationship a peer holds with this instance: what peer_grants.described says of
    it, and the narrowing form's boxes (item, label, ticked)."""
    grants = PeerRelationship.objects.active().select_related("peer").prefetch_related("profiles") \
        .order_by("peer__name", "remote_relationship_id")
    blocks = []
    for grant in grants:
        said = peer_grants.described(grant)
        said["announced"] = _when(grant.announced_at)
        said["boxes"] = [{"item": item, "label": ITEM_LABELS[item],
                          "ticked": item in said["allowed_items"]}
                         for item in peer_grants.ITEMS]
        for profile in said["profiles"]:
            profile["items_words"] = ", ".join(ITEM_LABELS[i] for i in profile["items"])
        blocks.append(said)
    return blocks


def relationship_states() -> list[dict]:
    """Each relationship's running sync (any kind: initial, profile, content), if one is, and
    whether it is staged: the screen's script shows its progress link in the header."""
    base = reverse("sync:configurations")
    kinds = dict(SyncRun.Kind.choices)
    states = []
    for r in _relationships_with_last_runs():
        active = r.last_run_status in SyncRun.ACTIVE
        states.append({"id": r.id, "staged": r.is_staged, "running": active,
                       "run_url": f"{base}runs/{r.last_run_id}/" if active else "",
                       "label": f"{kinds.get(r.last_run_kind, r.last_run_kind)} running: "
                                "show progress" if active else ""})
    return states


def profile_states() -> list[dict]:
    """Each profile's row state as the screen's script refreshes it."""
    base = reverse("sync:configurations")
    return [{key: value for key, value in row_state(p, base).items() if key != "profile"}
            for p in _profiles_with_last_runs()]


PROFILE_ROW = (
    '<tr id="profile-{id}" data-profile="{id}" data-status="{status}" data-run="{run_id}">'
    '<td><a href="{base}profiles/{id}/" title="Edit Synchronization Profile">{name}</a><br>'
    '<span class="note">{summary}</span></td>'
    '<td class="schedule">{schedule}</td>'
    '<td class="last-full">{last_full}</td>'
    '<td class="result">{result}</td>'
    '<td class="actions">{log}'
    '<a class="button progress-link" href="{run_url}" title="Running: show its progress"'
    '{progress_hidden}>Sync</a>'
    '<button class="sync-now" type="submit" form="sync-now" formaction="{base}profiles/{id}/sync/"'
    ' title="Sync now"{sync_hidden}>Sync</button> {preview}{files}'
    '<a href="{base}profiles/{id}/delete/">Delete</a></td></tr>')
RESULT = ('<span class="status {status}" role="img" title="{icon_text}" aria-label="{icon_text}">'
          '{icon}</span> <span class="status-text">{status_label}</span>')
# A log icon that needs no emoji font (its text alternative is the link's aria-label).
LOG_ICON = ('<svg class="doc-icon" aria-hidden="true" viewBox="0 0 12 14" width="12" height="14">'
            '<path d="M1 .5h7l3 3v10H1z" fill="none" stroke="currentColor"/>'
            '<path d="M3 6h6M3 8.5h6M3 11h4" stroke="currentColor"/></svg>')
LOG = ('<a class="log-icon" href="{base}profiles/{id}/log/" title="Log of this profile&#x27;s '
       'last sync" aria-label="Log of this profile&#x27;s last sync">' + LOG_ICON + '</a> ')
PREVIEW = '<a href="{base}profiles/{id}/preview/">Preview</a> '
FILES = ('<a href="{base}profiles/{id}/files/" title="Choose files to send now">'
         'Synchronize files</a> ')


def profile_row_html(row: dict, base: str) -> SafeString:
    """A profile's row of the configurations screen (see PROFILE_ROW). Every value is escaped
    before it goes in (html.escape: format_html per cell cost a third of the screen)."""
    text = {key: escape(str(value)) for key, value in row.items()
            if key not in ("profile", "preview", "files", "running")}
    text.update(id=int(row["id"]), base=escape(base))
    return mark_safe(PROFILE_ROW.format(  # noqa: S308 — every value above is escaped
        **text,
        result=RESULT.format(**text) if row["status"] else "",
        log=LOG.format(**text) if row["status"] else "",
        progress_hidden="" if row["running"] else " hidden",
        sync_hidden=" hidden" if row["running"] else "",
        preview=PREVIEW.format(**text) if row["preview"] else "",
        files=FILES.format(**text) if row["files"] else ""))


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else ""


def row_state(profile: Profile, base: str) -> dict:
    """A profile row: `profile` plus its last run's state, as the template and the script
    use it. `base` is the configurations screen's URL, which the row's links start with."""
    status = profile.last_run_status or ""
    icon, alternative = STATUS_ICONS.get(status, ("", ""))
    items = profile.items
    return {
        "profile": profile,
        "id": profile.id,
        "name": profile.name,
        "summary": f"{', '.join(items)} · {profile.get_direction_display()}",
        "schedule": profile.schedule_in_words,
        "preview": "database" in items,
        "files": "workarea" in items or "templates" in items,
        "status": status,
        "status_label": STATUS_LABELS.get(status, ""),
        "icon": icon,
        "icon_text": alternative,
        "running": status in SyncRun.ACTIVE,
        "run_id": profile.last_run_id or "",
        "run_url": f"{base}runs/{profile.last_run_id}/" if profile.last_run_id else "",
        "last_run": _when(profile.last_run_ended),
        "last_full": _when(profile.last_full_ended) or "Never",
    }
