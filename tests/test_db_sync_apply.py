"""Applying a peer's change set here (the manual's "Sync Logs" skipped reasons and
"Reviewing Resolved Collisions"), in-process: no peer, the change set is built by hand.

Rows "from production" take keys from server 2's ID range, as a real peer's would.
"""

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from cms.models import Content, Folder, User
from syncengine import change_log
from syncengine.apply_changes import DELETES, INSERTS, apply_changes
from syncengine.change_sets import Change, fetch_rows, from_lines, specs_by_name, to_lines

pytestmark = pytest.mark.django_db

PRODUCTION = "production-server-id"
REMOTE_IDS = itertools.count(2 * 10**12 + 1)


def row_of(obj, **changes) -> dict:
    """`obj`'s row as a change set carries it, with `changes` made to it."""
    spec = specs_by_name()[obj._meta.db_table]
    row = fetch_rows(spec, [(obj.pk,)])[(obj.pk,)]
    row.update(changes)
    return row


def upsert(table: str, row: dict, op: str = "I") -> Change:
    return Change(table, (row["id"],), op, 0, row)


def delete(table: str, key: int) -> Change:
    return Change(table, (key,), "D", 0, None)


def over_the_wire(changes: list[Change]) -> list[Change]:
    """A fresh copy of the change set, as the peer would receive it."""
    _, copy = from_lines(b"".join(to_lines(0, changes)).splitlines())
    return copy


@pytest.fixture
def home() -> Folder:
    return Folder.objects.create(name="Home")


@pytest.fixture
def template_content(home) -> Content:
    return Content.objects.create(folder=home, title="Template", html="<p>t</p>")


def remote_folder(template: Folder, name: str, parent_id, created=None) -> dict:
    moment = (created or timezone.now()).isoformat()
    return row_of(template, id=next(REMOTE_IDS), name=name, parent_id=parent_id,
                  created_at=moment, updated_at=moment)


def remote_content(template: Content, folder_id: int, title: str) -> dict:
    return row_of(template, id=next(REMOTE_IDS), folder_id=folder_id, title=title)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_folder_its_content_and_its_child_folder_arrive_in_any_order(
        home, template_content, order):
    folder = remote_folder(home, "Products", home.id)
    child = remote_folder(home, "Widgets", folder["id"])
    page = remote_content(template_content, folder["id"], "Widget catalogue")
    arriving = [upsert("cms_folder", folder), upsert("cms_folder", child),
                upsert("cms_content", page)]

    result = apply_changes([arriving[i] for i in order], origin=PRODUCTION)

    assert (result.applied, result.skipped) == (3, [])
    assert Folder.objects.get(id=child["id"]).parent_id == folder["id"]
    assert Content.objects.get(id=page["id"]).folder_id == folder["id"]


def test_content_pointing_at_a_missing_folder_is_skipped_with_its_reason_and_the_rest_applies(
        home, template_content):
    missing_folder = next(REMOTE_IDS)
    orphan = remote_content(template_content, missing_folder, "Orphan")
    fine = remote_content(template_content, home.id, "Fine")
    renamed = row_of(template_content, title="Retitled by production")

    result = apply_changes([upsert("cms_content", orphan), upsert("cms_content", fine),
                            upsert("cms_content", renamed, "U")], origin=PRODUCTION)

    assert result.applied == 2
    [skip] = result.skipped
    assert (skip.table, skip.stage, skip.key) == ("cms_content", INSERTS, str(orphan["id"]))
    assert "FOREIGN KEY" in skip.error and str(missing_folder) in skip.error
    assert not Content.objects.filter(id=orphan["id"]).exists()
    assert Content.objects.get(id=fine["id"]).title == "Fine"
    assert Content.objects.get(id=template_content.id).title == "Retitled by production"


def test_deleting_a_folder_that_still_holds_content_here_is_skipped_as_still_referenced(
        home, template_content):
    emptied = Folder.objects.create(name="Empty", parent=home)

    result = apply_changes([delete("cms_folder", home.id), delete("cms_folder", emptied.id)],
                           origin=PRODUCTION)

    assert result.applied == 1
    [skip] = result.skipped
    assert (skip.table, skip.stage, skip.key) == ("cms_folder", DELETES, str(home.id))
    assert "still referenced" in skip.error
    assert Folder.objects.filter(id=home.id).exists()
    assert not Folder.objects.filter(id=emptied.id).exists()


def test_a_delete_goes_after_the_children_in_the_same_change_set(home, template_content):
    result = apply_changes([delete("cms_folder", home.id),
                            delete("cms_content", template_content.id)], origin=PRODUCTION)

    assert (result.applied, result.skipped) == (2, [])
    assert not Folder.objects.filter(id=home.id).exists()


def collided(kind_table: str, after: int) -> set:
    return {c.key for c in change_log.changes_between(after, change_log.high_water_mark(),
                                                      exclude_origin=PRODUCTION,
                                                      tables=[kind_table])}


def test_a_folder_made_on_both_sides_the_incoming_newer_one_gets_its_id_appended(home):
    ours = Folder.objects.create(name="Marketing", parent=home,
                                 created_at=timezone.now() - dt.timedelta(hours=1))
    theirs = remote_folder(home, "Marketing", home.id, created=timezone.now())
    mark = change_log.high_water_mark()

    result = apply_changes(over_the_wire([upsert("cms_folder", theirs)]), origin=PRODUCTION)

    renamed = f"Marketing{theirs['id']}"
    assert Folder.objects.get(id=theirs["id"]).name == renamed
    assert Folder.objects.get(id=ours.id).name == "Marketing"
    [note] = result.collisions
    assert (note.kind, note.row_id, note.original_name, note.modified_name) == \
        ("folder", theirs["id"], "Marketing", renamed)
    # The rename counts as a change made here, so it goes back to production.
    assert (theirs["id"],) in collided("cms_folder", mark)


def test_a_folder_made_on_both_sides_the_local_newer_one_gets_its_id_appended(home):
    ours = Folder.objects.create(name="Marketing", parent=home, created_at=timezone.now())
    theirs = remote_folder(home, "Marketing", home.id,
                           created=timezone.now() - dt.timedelta(hours=1))
    mark = change_log.high_water_mark()

    result = apply_changes(over_the_wire([upsert("cms_folder", theirs)]), origin=PRODUCTION)

    assert Folder.objects.get(id=ours.id).name == f"Marketing{ours.id}"
    assert Folder.objects.get(id=theirs["id"]).name == "Marketing"
    assert [(n.row_id, n.modified_name) for n in result.collisions] == \
        [(ours.id, f"Marketing{ours.id}")]
    assert (ours.id,) in collided("cms_folder", mark)


def test_same_folder_name_under_another_parent_is_no_collision(home):
    Folder.objects.create(name="Marketing", parent=home)
    theirs = remote_folder(home, "Marketing", None)

    result = apply_changes([upsert("cms_folder", theirs)], origin=PRODUCTION)

    assert result.collisions == []
    assert Folder.objects.get(id=theirs["id"]).name == "Marketing"


def test_a_user_name_signed_up_on_both_sides_the_newer_one_is_renamed():
    ours = User.objects.create_user("tom", "tom@example.com", "pass-word-1",
                                    date_joined=timezone.now() - dt.timedelta(days=1))
    theirs = row_of(ours, id=next(REMOTE_IDS), email="tom@production.example",
                    date_joined=timezone.now().isoformat())

    result = apply_changes(over_the_wire([upsert("cms_user", theirs)]), origin=PRODUCTION)

    assert User.objects.get(id=ours.id).username == "tom"
    assert User.objects.get(id=theirs["id"]).username == f"tom{theirs['id']}"
    assert [n.kind for n in result.collisions] == ["user"]


def fingerprint() -> list:
    return [list(Folder.objects.order_by("id").values_list("id", "parent_id", "name")),
            list(Content.objects.order_by("id").values_list("id", "folder_id", "title"))]


def test_applying_the_same_change_set_twice_changes_nothing_the_second_time(
        home, template_content):
    Folder.objects.create(name="Marketing", parent=home,
                          created_at=timezone.now() - dt.timedelta(hours=1))
    folder = remote_folder(home, "Marketing", home.id)
    gone = Folder.objects.create(name="Gone", parent=home)
    change_set = [upsert("cms_folder", folder),
                  upsert("cms_content", remote_content(template_content, folder["id"], "New")),
                  upsert("cms_content", row_of(template_content, title="Edited"), "U"),
                  upsert("cms_content", remote_content(template_content, next(REMOTE_IDS),
                                                       "Orphan")),
                  delete("cms_folder", gone.id)]

    first = apply_changes(over_the_wire(change_set), origin=PRODUCTION)
    after_first = fingerprint()
    second = apply_changes(over_the_wire(change_set), origin=PRODUCTION)

    assert fingerprint() == after_first
    assert (first.applied, len(first.skipped)) == (4, 1)
    # The delete is already done; the rest is written again to the same values.
    assert (second.applied, len(second.skipped)) == (3, 1)
    assert [n.original_name for n in first.collisions] == ["Marketing"]
    assert second.collisions == []  # resolved once, reported once
    assert Folder.objects.filter(name__startswith="Marketing").count() == 2
