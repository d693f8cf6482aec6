"""The manual's "eSync Moves Changes Only": the database itself records what changed.

Per changed row the change log keeps the latest operation, a local sequence number that only
grows, and where the change came from ("" when made here, else the peer's server id). These
run in-process on the test database (SQLite, or PostgreSQL when DATABASE_URL is set).
"""

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction

from cms.models import Content, Folder, User
from syncengine import change_log
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PEER = "11111111-2222-3333-4444-555555555555"


def logged(after: int, table: str, exclude_origin: str = "") -> list[change_log.LoggedChange]:
    """Changes to `table` logged since the mark `after`, oldest first."""
    return change_log.changes_between(after, change_log.high_water_mark(),
                                      exclude_origin=exclude_origin, tables=[table])


def latest(after: int, table: str, key: tuple) -> change_log.LoggedChange:
    matching = [c for c in logged(after, table) if c.key == key]
    assert len(matching) == 1, f"one line per changed row, found {matching}"
    return matching[0]


def test_insert_update_and_delete_each_move_the_row_to_a_higher_number_and_leave_a_tombstone():
    mark = change_log.high_water_mark()

    folder = Folder.objects.create(name="Press")
    inserted = latest(mark, "cms_folder", (folder.id,))
    assert (inserted.op, inserted.origin) == ("I", "")
    assert inserted.seq > mark

    folder.description = "Press releases"
    folder.save()
    updated = latest(mark, "cms_folder", (folder.id,))
    assert updated.op == "U" and updated.seq > inserted.seq

    folder_id = folder.id
    folder.delete()
    tombstone = latest(mark, "cms_folder", (folder_id,))
    assert tombstone.op == "D" and tombstone.seq > updated.seq
    # Nothing changed since: the next reader starting at the mark sees nothing new.
    assert logged(change_log.high_water_mark(), "cms_folder") == []


def test_a_raw_sql_update_is_tracked_like_the_orm():
    folder = Folder.objects.create(name="Raw")
    content = Content.objects.create(folder=folder, title="Before")
    mark = change_log.high_water_mark()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE cms_content SET title = %s WHERE id = %s", ["After", content.id])

    change = latest(mark, "cms_content", (content.id,))
    assert (change.op, change.origin) == ("U", "")
    assert [c.key for c in logged(mark, "cms_folder")] == []


def test_rows_applied_from_a_peer_carry_its_origin_and_are_not_sent_back_to_it():
    mark = change_log.high_water_mark()
    with transaction.atomic(), change_log.applying_from(PEER):
        from_peer = Folder.objects.create(name="From the peer")
    made_here = Folder.objects.create(name="Made here")

    assert latest(mark, "cms_folder", (from_peer.id,)).origin == PEER
    assert latest(mark, "cms_folder", (made_here.id,)).origin == ""
    # Going back to that peer, its own rows are left out...
    assert [c.key for c in logged(mark, "cms_folder", exclude_origin=PEER)] == \
        [(made_here.id,)]
    # ...but a third server gets both (dev → staging → production chains).
    assert {c.key for c in logged(mark, "cms_folder", exclude_origin="another-peer")} == \
        {(from_peer.id,), (made_here.id,)}


def test_a_local_edit_after_an_applied_one_makes_the_row_local_again():
    mark = change_log.high_water_mark()
    with transaction.atomic(), change_log.applying_from(PEER):
        folder = Folder.objects.create(name="Came down")
    folder.description = "Edited here afterwards"
    folder.save()

    change = latest(mark, "cms_folder", (folder.id,))
    assert change.origin == ""
    assert [c.key for c in logged(mark, "cms_folder", exclude_origin=PEER)] == [(folder.id,)]


def test_joining_a_group_is_a_change_of_the_user():
    from cms.roles import ensure_groups

    ensure_groups()
    member = User.objects.create_user("gina", "gina@example.com", "pass-word-1",
                                      kind=User.Kind.MEMBERSHIP)
    mark = change_log.high_water_mark()

    member.groups.add(Group.objects.order_by("id").first())

    change = latest(mark, "cms_user", (member.id,))
    assert (change.op, change.origin) == ("U", "")
    assert change.seq > mark

    again = change_log.high_water_mark()
    member.groups.clear()
    assert latest(again, "cms_user", (member.id,)).op == "U"


def test_a_sign_in_is_not_a_change_to_sync_but_an_edit_of_the_user_is(make_user, client):
    user = make_user("jsmith")
    mark = change_log.high_water_mark()

    assert client.login(username="jsmith", password=PASSWORD)
    user.refresh_from_db()
    assert user.last_login is not None
    assert logged(mark, "cms_user") == []

    user.email = "j.smith@example.org"
    user.save()
    assert [c.op for c in logged(mark, "cms_user")] == ["U"]
