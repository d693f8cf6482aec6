"""Force Initial Sync's prerequisites and "one sync at a time", as the manual states them."""

import dataclasses

import pytest

from certificates.models import TrustedPeer
from relationships.initial_sync import InitialSyncRefused, start_initial_sync
from relationships.models import Relationship
from syncengine.models import SyncRun
from syncengine.runs import SyncAlreadyRunning

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def force_allowed(settings):
    settings.ESYNC = dataclasses.replace(settings.ESYNC, force_reinit=True)


def relationship(direction="download", name="production") -> Relationship:
    peer = TrustedPeer.objects.create(
        name=name, server_id=f"00000000-0000-0000-0000-00000000000{TrustedPeer.objects.count()}",
        esync_version="0.1.0", server_cert_pem="", client_cert_pem="",
        server_fingerprint=f"s{name}", client_fingerprint=f"c{name}",
        server_not_after="2030-01-01T00:00Z", client_not_after="2030-01-01T00:00Z")
    return Relationship.objects.create(
        remote_host="127.0.0.1", remote_port=8732, remote_server_id=peer.server_id,
        remote_name=name, remote_database="esync", certificate=peer,
        initial_direction=direction)


def test_force_is_accepted_when_every_prerequisite_holds(force_allowed):
    run = start_initial_sync(relationship("download"), force=True)
    assert (run.kind, run.forced, run.status) == ("FullStage", True, "queued")


def test_force_is_refused_without_force_reinit():
    with pytest.raises(InitialSyncRefused, match="force_reinit is not true"):
        start_initial_sync(relationship("download"), force=True)


def test_force_is_refused_on_the_source_side(force_allowed):
    with pytest.raises(InitialSyncRefused, match="not the destination"):
        start_initial_sync(relationship("upload"), force=True)


def test_force_is_refused_with_more_than_one_relationship(force_allowed):
    relationship("download", "production")
    with pytest.raises(InitialSyncRefused, match="more than one sync server relationship"):
        start_initial_sync(relationship("download", "development"), force=True)


def test_force_is_refused_on_a_multi_site_instance(force_allowed, monkeypatch):
    from cms.sites import Site

    two = [Site("default", None, True), Site("intranet", None, False)]
    monkeypatch.setattr("relationships.initial_sync.list_sites", lambda: two)
    with pytest.raises(InitialSyncRefused, match="multi-site"):
        start_initial_sync(relationship("download"), force=True)


def test_every_missing_prerequisite_is_named_at_once():
    relationship("download", "production")
    with pytest.raises(InitialSyncRefused) as refused:
        start_initial_sync(relationship("upload", "development"), force=True)
    message = str(refused.value)
    for missing in ("force_reinit", "more than one", "not the destination"):
        assert missing in message


def test_a_staged_relationship_needs_force_to_initialize_again():
    staged = relationship("download")
    staged.state, staged.staged_at = Relationship.State.STAGED, "2026-01-01T00:00Z"
    staged.save()
    staged.refresh_from_db()
    with pytest.raises(InitialSyncRefused, match="already staged"):
        start_initial_sync(staged)


def test_a_second_sync_is_refused_while_one_runs():
    first = start_initial_sync(relationship("download", "production"))
    with pytest.raises(SyncAlreadyRunning, match=f"already running .* #{first.id}"):
        start_initial_sync(relationship("upload", "development"))
    assert SyncRun.objects.count() == 1


def test_deleting_a_relationship_removes_its_profiles_and_keeps_data_and_logs(client,
                                                                               administrator):
    from django.urls import reverse

    from cms.models import Content
    from profiles.models import Profile
    from tests import factories

    factories.content()
    doomed = relationship("download")
    Profile.objects.create(relationship=doomed, name="Default DB profile1",
                           items=["database"], direction="download")
    run = SyncRun.objects.create(kind="FullStage", relationship=doomed, direction="download",
                                 status="success")
    client.force_login(administrator)
    url = reverse("sync:relationship_delete", args=[doomed.id])
    assert "No content, user or file is deleted" in client.get(url).content.decode()
    assert Relationship.objects.exists()  # asking is not deleting
    client.post(url)
    assert not Relationship.objects.exists() and not Profile.objects.exists()
    run.refresh_from_db()
    assert run.relationship is None and run.status == "success"
    assert Content.objects.count() == 1


def test_a_run_cut_off_by_a_stopped_worker_is_closed_when_the_worker_starts_again():
    from syncengine.runs import claim_next, close_interrupted

    run = start_initial_sync(relationship("download"))
    assert claim_next().id == run.id  # the worker took it... and was killed
    assert close_interrupted() == 1
    from django.conf import settings

    assert not (settings.ESYNC.state_dir / "runs" / f"{run.id}.json").exists()
    run.refresh_from_db()
    assert run.status == "failed" and "Interrupted" in run.message
    start_initial_sync(Relationship.objects.get())  # no longer "already running"
