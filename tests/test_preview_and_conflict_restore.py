"""The manual's "Previewing a Sync", and bringing back the version that lost a conflict."""

from __future__ import annotations

import json

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from certificates.exchange import apply_peer_folder
from certificates.identities import generate_identities
from cms.models import Content, Folder
from esync_site.cli import main
from profiles.models import Profile
from relationships.models import Relationship
from syncengine import change_log
from syncengine.change_sets import Change, fetch_rows, specs_by_name
from syncengine.conflicts import RestoreRefused, restore
from syncengine.db_sync import Conflict, SyncPlan
from syncengine.models import ConflictRecord
from syncengine.preview import shape_plan
from tests import factories
from tests.certificate_helpers import export_as_peer, use_home
from tests.db_sync_helpers import EDIT_CONTENT, FIRST_CONTENT, run_python, staged_pair
from tests.real_instances import free_port
from tests.test_profile_form import a_relationship


def esync(capsys, *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    out = capsys.readouterr()
    return code, out.out, out.err


def row_of(instance) -> dict:
    spec = specs_by_name()[instance._meta.db_table]
    return fetch_rows(spec, [(instance.pk,)])[(instance.pk,)]


# -- preview ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_preview_shows_each_sides_changes_per_table_and_who_wins_a_conflict(make_user):
    editor = make_user("bob")
    editor.first_name, editor.last_name = "Application", "Administrator"
    editor.save()
    item = factories.content(title="bob1", editor=editor)
    page_row = row_of(item)
    folder_row = row_of(item.folder)
    remote_edit = {**page_row, "title": "from production", "last_editor_id": 9_000_000}
    plan = SyncPlan(
        direction="bidirectional", policy="local-wins", local_mark=10, remote_mark=20,
        local_changes=[], remote_changes=[],
        outgoing=[Change("cms_content", (item.id,), "U", 4, page_row),
                  Change("cms_folder", (item.folder_id,), "I", 3, folder_row)],
        incoming=[Change("cms_folder", (77,), "D", 12, None)],
        conflicts=[Conflict("cms_content", (item.id,),
                            Change("cms_content", (item.id,), "U", 4, page_row),
                            Change("cms_content", (item.id,), "U", 11, remote_edit),
                            "local")])

    shaped = shape_plan(plan)

    assert [g["table"] for g in shaped["local"]] == ["cms_content", "cms_folder"]
    content = shaped["local"][0]["changes"][0]
    assert content["op"] == "update" and content["key"] == str(item.id)
    assert content["content"] == {
        "id": item.id, "language": 1033, "title": "bob1", "status": "I",
        "folder": item.folder_id, "last_editor": "Administrator, Application (bob)",
        "edit_date": page_row["edited_at"]}
    assert shaped["local"][1]["changes"] == [{"op": "insert", "key": str(item.folder_id)}]
    assert shaped["remote"] == [{"table": "cms_folder",
                                 "changes": [{"op": "delete", "key": "77"}]}]
    assert shaped["conflicts"] == [{"table": "cms_content", "key": str(item.id),
                                    "local_op": "update", "remote_op": "update",
                                    "winner": "local"}]
    json.dumps(shaped)  # plain data, ready for --json

    profile = Profile.objects.create(relationship=a_relationship(staged=True), name="Db",
                                     items=["database"], direction="bidirectional")
    page = render_to_string("syncengine/preview.html",
                            {"profile": profile, "plan": shaped, "error": None})
    assert "Local Changes [Table: cms_content]" in page
    assert (f"<td>update</td><td>{item.id}</td><td>1033</td><td>bob1</td><td>I</td>"
            f"<td>{item.folder_id}</td><td>Administrator, Application (bob)</td>") in page
    assert "Remote Changes [Table: cms_folder]" in page and "<td>delete</td><td>77</td>" in page
    assert "<td>local version</td>" in page


@pytest.fixture
def unreachable_profile(settings, tmp_path):
    """A staged relationship whose peer's sync service is not running."""
    use_home(settings, tmp_path / "home", "staging")
    generate_identities()
    peer = apply_peer_folder(export_as_peer(settings, tmp_path / "production",
                                            name="production"))
    relationship = Relationship.objects.create(
        remote_host="127.0.0.1", remote_port=free_port(), remote_server_id=peer.server_id,
        remote_name="production", remote_database="esync", certificate=peer,
        initial_direction="upload", state=Relationship.State.STAGED)
    return Profile.objects.create(relationship=relationship, name="Db", items=["database"],
                                  direction="bidirectional")


@pytest.mark.django_db
def test_a_peer_that_does_not_answer_is_a_clear_message(client, sync_admin, capsys,
                                                        unreachable_profile):
    relationship = unreachable_profile.relationship
    client.force_login(sync_admin)
    page = client.get(reverse("sync:profile_preview", args=[unreachable_profile.id]))
    assert page.status_code == 200
    assert (f"Could not ask production for its changes: There was no endpoint listening at "
            f"{relationship.address}") in page.content.decode()

    code, _, err = esync(capsys, "preview", "Db")
    assert code == 4 and f"no endpoint listening at {relationship.address}" in err


@pytest.mark.django_db
def test_no_preview_before_the_initial_sync(client, sync_admin, capsys):
    profile = Profile.objects.create(relationship=a_relationship(), name="Db",
                                     items=["database"], direction="upload")
    client.force_login(sync_admin)
    page = client.get(reverse("sync:profile_preview", args=[profile.id])).content.decode()
    assert "has not been initialized" in page
    code, _, err = esync(capsys, "preview", str(profile.id))
    assert code == 3 and "has not been initialized" in err


CHANGE_LOG = """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT table_name, row_key, seq, op, origin FROM esync_change "
                   "ORDER BY table_name, row_key")
    result = [list(r) for r in cursor.fetchall()]
"""

CONTENT_ROWS = """
from cms.models import Content
result = list(Content.objects.order_by("id").values_list("id", "title", "edited_at"))
"""


@pytest.mark.slow
def test_preview_lists_both_sides_changes_and_changes_nothing(real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        first = run_python(pair.staging, FIRST_CONTENT)
        run_python(pair.staging, EDIT_CONTENT.format(id=first, title="Edited on staging"))
        run_python(pair.production, EDIT_CONTENT.format(id=first, title="Edited live"))
        pair.add_profile("Both ways", "bidirectional", "local-wins")
        before = {i.name: (run_python(i, CHANGE_LOG), run_python(i, CONTENT_ROWS))
                  for i in (pair.staging, pair.production)}

        shown = json.loads(pair.staging.esync("preview", "Both ways", "--json").stdout)
        text = pair.staging.esync("preview", "Both ways").stdout

        local = {c["key"]: c for g in shown["local"] if g["table"] == "cms_content"
                 for c in g["changes"]}
        assert local[str(first)]["content"]["title"] == "Edited on staging"
        assert shown["conflicts"] == [{"table": "cms_content", "key": str(first),
                                       "local_op": "update", "remote_op": "update",
                                       "winner": "local"}]
        assert "Edited on staging" in text and "the local version wins" in text
        after = {i.name: (run_python(i, CHANGE_LOG), run_python(i, CONTENT_ROWS))
                 for i in (pair.staging, pair.production)}
        assert after == before


# -- restoring the losing version -------------------------------------------------------------

def a_conflict(row_now: dict, loser: dict | None, winner: str, table: str) -> ConflictRecord:
    """A record as a run leaves it: the winner is the row as it is now."""
    local, remote = (row_now, loser) if winner == "local" else (loser, row_now)
    return ConflictRecord.objects.create(
        table_name=table, row_key=str(row_now["id"]), policy="remote-wins",
        winner_side=winner, local_version=local, remote_version=remote)


def logged_since(mark: int) -> list[tuple]:
    return [(c.table, c.key, c.op, c.origin)
            for c in change_log.changes_between(mark, change_log.high_water_mark())]


@pytest.mark.django_db
def test_restore_writes_the_losing_version_back_as_a_local_change(client, sync_admin):
    item = factories.content(title="Production's title")
    now = row_of(item)
    mine = {**now, "title": "Staging's title", "html": "<p>staging</p>"}
    record = a_conflict(now, mine, "remote", "cms_content")
    client.force_login(sync_admin)

    url = reverse("sync:conflict_restore", args=[record.id])
    asked = client.get(url).content.decode()
    assert "Restore the local version of cms_content" in asked
    assert "Staging&#x27;s title" in asked and "Production&#x27;s title" in asked
    assert Content.objects.get(id=item.id).title == "Production's title"  # asking changes nothing

    mark = change_log.high_water_mark()
    page = client.post(url, follow=True).content.decode()

    item.refresh_from_db()
    assert (item.title, item.html) == ("Staging's title", "<p>staging</p>")
    assert logged_since(mark) == [("cms_content", (item.id,), "U", "")]
    record.refresh_from_db()
    assert record.restored_by == "sam" and record.restored_at is not None
    assert "is back here" in page

    again = client.post(url, follow=True).content.decode()
    assert "already restored" in again
    assert Content.objects.get(id=item.id).title == "Staging's title"


@pytest.mark.django_db
def test_restoring_a_version_that_lost_as_a_deletion_deletes_the_row(capsys):
    folder = factories.folder("Kept here, deleted there")
    record = a_conflict(row_of(folder), None, "local", "cms_folder")
    mark = change_log.high_water_mark()

    code, out, _ = esync(capsys, "conflicts", "restore", str(record.id))

    assert code == 0 and "Restored the remote version of cms_folder" in out
    assert not Folder.objects.filter(id=folder.id).exists()
    assert logged_since(mark) == [("cms_folder", (folder.id,), "D", "")]
    code, _, err = esync(capsys, "conflicts", "restore", str(record.id))
    assert code == 3 and "already restored" in err


@pytest.mark.django_db
def test_esync_conflicts_lists_the_records(capsys):
    folder = factories.folder("Docs")
    record = a_conflict(row_of(folder), {**row_of(folder), "name": "Documents"}, "local",
                        "cms_folder")
    code, out, _ = esync(capsys, "conflicts", "--json")
    assert code == 0
    assert [(r["id"], r["table"], r["key"], r["winner"], r["restored_at"])
            for r in json.loads(out)] == [(record.id, "cms_folder", str(folder.id), "local",
                                           None)]
    code, out, _ = esync(capsys, "conflicts")
    assert "the local version won" in out and "not restored" in out
    code, _, err = esync(capsys, "conflicts", "restore", "31337")
    assert code == 3 and "no conflict record 31337" in err


@pytest.mark.django_db
def test_a_table_no_longer_synced_cannot_be_restored(client, sync_admin):
    record = ConflictRecord.objects.create(
        table_name="shop_orders", row_key="5", policy="local-wins", winner_side="local",
        local_version={"id": 5, "total": 10}, remote_version={"id": 5, "total": 12})
    with pytest.raises(RestoreRefused, match="no longer synchronized"):
        restore(record, "sam")
    client.force_login(sync_admin)
    page = client.post(reverse("sync:conflict_restore", args=[record.id]),
                       follow=True).content.decode()
    assert "shop_orders is no longer synchronized" in page
    record.refresh_from_db()
    assert record.restored_at is None


@pytest.mark.django_db
def test_the_conflicts_screen_lists_records_with_a_restore_button(client, sync_admin):
    folder = factories.folder("Docs")
    open_record = a_conflict(row_of(folder), {**row_of(folder), "name": "Documents"},
                             "local", "cms_folder")
    done = a_conflict(row_of(folder), {**row_of(folder), "name": "Papers"}, "local",
                      "cms_folder")
    ConflictRecord.objects.filter(id=done.id).update(restored_by="alice",
                                                     restored_at="2030-01-01T00:00Z")
    client.force_login(sync_admin)
    page = client.get(reverse("sync:conflicts")).content.decode()
    row = page[page.index(f'id="conflict-{open_record.id}"'):]
    row = row[:row.index("</tr>")]
    assert "cms_folder" in row and "local version" in row and ">no<" in row
    assert reverse("sync:conflict_restore", args=[open_record.id]) in row
    row = page[page.index(f'id="conflict-{done.id}"'):]
    row = row[:row.index("</tr>")]
    assert "by alice" in row
    assert reverse("sync:conflict_restore", args=[done.id]) not in row
