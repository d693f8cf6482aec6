"""The manual's "Sync Logs" and "Reviewing Resolved Collisions": on screen and on the command
line."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from esync_site.cli import main
from profiles.models import Profile
from syncengine.models import Collision, ConflictRecord, SkippedRow, SyncRun
from tests.test_profile_form import a_relationship

pytestmark = pytest.mark.django_db

T0 = timezone.make_aware(dt.datetime(2030, 7, 22, 10, 38, 15))
FK_ERROR = ('FOREIGN KEY: cms_content.folder_id = 2000000000366 refers to cms_folder.id, '
            'which is not here')


@pytest.fixture
def history():
    """An initial sync, then two runs of a profile: the second skipped a row."""
    relationship = a_relationship(staged=True)
    profile = Profile.objects.create(relationship=relationship, name="BiDirection",
                                     items=["database"], direction="bidirectional")
    stage = SyncRun.objects.create(kind="FullStage", relationship=relationship,
                                   direction="upload", status="success", user_name="alice",
                                   started_at=T0, ended_at=T0 + dt.timedelta(seconds=5))
    first = SyncRun.objects.create(kind="FullSync", relationship=relationship, profile=profile,
                                   direction="bidirectional", status="success",
                                   user_name="sam", applied=47, total=47, started_at=T0,
                                   ended_at=T0 + dt.timedelta(minutes=1))
    second = SyncRun.objects.create(kind="FullSync", relationship=relationship,
                                    profile=profile, direction="bidirectional",
                                    status="warning", user_name="sam", applied=45, skipped=1,
                                    total=46, started_at=T0 + dt.timedelta(minutes=5),
                                    ended_at=T0 + dt.timedelta(minutes=6))
    SkippedRow.objects.create(run=second, side="local", table_name="cms_content",
                              stage="ApplyingInserts", error=FK_ERROR,
                              remote_key="2000000001042")
    ConflictRecord.objects.create(run=second, relationship=relationship,
                                  table_name="cms_content", row_key="1042",
                                  policy="local-wins", winner_side="local",
                                  local_version={"title": "mine"},
                                  remote_version={"title": "theirs"})
    return {"relationship": relationship, "profile": profile, "stage": stage,
            "first": first, "second": second}


def esync(capsys, *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_all_runs_newest_first_with_the_manuals_columns(client, sync_admin, history):
    client.force_login(sync_admin)
    page = client.get(reverse("sync:logs")).content.decode()
    for column in ("Log Id", "Type", "Direction", "Start Time", "End Time", "User", "Applied",
                   "Skipped", "Total", "Status"):
        assert f"<th>{column}</th>" in page or f"<th>{column} (UTC)</th>" in page, column
    assert "<th>Start Time (UTC)</th>" in page  # the instance's time zone beside its times
    rows = [page.index(f'id="run-{history[k].id}"') for k in ("second", "first", "stage")]
    assert rows == sorted(rows)
    second = page[rows[0]:page.index("</tr>", rows[0])]
    assert "<td>FullSync</td><td>Bidirectional</td>" in second
    assert "<td>45</td><td>1</td><td>46</td>" in second and "Warning" in second
    assert reverse("sync:log", args=[history["second"].id]) in second


def test_a_profiles_and_a_relationships_last_log(client, sync_admin, history):
    client.force_login(sync_admin)
    second = reverse("sync:log", args=[history["second"].id])
    assert client.get(reverse("sync:profile_log", args=[history["profile"].id])
                      )["Location"] == second
    assert client.get(reverse("sync:relationship_log", args=[history["relationship"].id])
                      )["Location"] == second
    screen = client.get(reverse("sync:configurations")).content.decode()
    assert reverse("sync:profile_log", args=[history["profile"].id]) in screen
    assert reverse("sync:relationship_log", args=[history["relationship"].id]) in screen


def test_a_profile_that_never_ran_has_no_log_yet(client, sync_admin):
    profile = Profile.objects.create(relationship=a_relationship(), name="Upload",
                                     items=["database"], direction="upload")
    client.force_login(sync_admin)
    page = client.get(reverse("sync:profile_log", args=[profile.id]), follow=True)
    assert "has not run yet" in page.content.decode().replace("&#x27;", "'")


def test_the_detail_lists_skipped_rows_and_conflicts(client, sync_admin, history):
    client.force_login(sync_admin)
    page = client.get(reverse("sync:log", args=[history["second"].id])).content.decode()
    assert "Applied:45 Skipped:1 Total:46" in page
    assert "<td>cms_content</td><td>ApplyingInserts</td>" in page
    assert "refers to cms_folder.id, which is not here" in page
    assert "<td>2000000001042</td>" in page
    conflict = ConflictRecord.objects.get()
    assert "<td>1042</td><td>local version</td>" in page
    assert reverse("sync:conflict_restore", args=[conflict.id]) in page
    clean = client.get(reverse("sync:log", args=[history["first"].id])).content.decode()
    assert "No rows were skipped." in clean and "No conflicts." in clean


def test_esync_logs_and_log_on_the_command_line(capsys, history):
    code, out, _ = esync(capsys, "logs", "--json")
    runs = json.loads(out)
    assert code == 0
    assert [r["id"] for r in runs] == [history[k].id for k in ("second", "first", "stage")]
    assert {k: runs[0][k] for k in ("type", "direction", "user", "applied", "skipped",
                                    "total", "status")} == {
        "type": "FullSync", "direction": "bidirectional", "user": "sam", "applied": 45,
        "skipped": 1, "total": 46, "status": "warning"}
    assert runs[0]["start"] == (T0 + dt.timedelta(minutes=5)).isoformat()

    code, out, _ = esync(capsys, "logs")
    assert code == 0 and "Log Id" in out and "warning" in out

    code, out, _ = esync(capsys, "log", str(history["second"].id), "--json")
    detail = json.loads(out)
    assert detail["skipped_rows"] == [{
        "table": "cms_content", "stage": "ApplyingInserts", "error": FK_ERROR,
        "remote_key": "2000000001042", "local_key": "", "side": "local"}]
    assert [(c["table"], c["key"], c["winner"]) for c in detail["conflicts"]] == [
        ("cms_content", "1042", "local")]

    code, out, _ = esync(capsys, "log", str(history["second"].id))
    assert code == 0 and "Skipped:1" in out and "which is not here" in out


def test_esync_logs_of_one_relationship(capsys, history):
    other = SyncRun.objects.create(kind="FullSync", direction="upload", status="failed")
    code, out, _ = esync(capsys, "logs", "--json")
    assert other.id in [r["id"] for r in json.loads(out)]
    code, out, _ = esync(capsys, "logs", "--relationship", str(history["relationship"].id),
                         "--json")
    assert other.id not in [r["id"] for r in json.loads(out)]
    assert len(json.loads(out)) == 3


def test_esync_log_of_an_unknown_run_is_refused(capsys, history):
    code, _, err = esync(capsys, "log", "999999")
    assert code == 3 and "There is no run 999999" in err


# -- Review Synchronization Collisions --------------------------------------------------------

@pytest.fixture
def collisions():
    made = {}
    for kind, table, original, row_id in (("user", "cms_user", "Mad", 10027),
                                          ("user", "cms_user", "Tom", 10028),
                                          ("folder", "cms_folder", "Marketing", 11329),
                                          ("message", "cms_message", "Welcome", 501)):
        made[original] = Collision.objects.create(
            kind=kind, table_name=table, row_id=row_id, original_name=original,
            modified_name=f"{original}{row_id}")
    Collision.objects.create(kind="user", table_name="cms_user", row_id=7,
                             original_name="Old", modified_name="Old7", reviewed_by="alice",
                             reviewed_at=T0)
    return made


def test_the_review_screen_has_a_tab_per_kind_with_the_unreviewed_ones(client, sync_admin,
                                                                        collisions):
    client.force_login(sync_admin)
    page = client.get(reverse("sync:collisions")).content.decode()
    for label in ("Users (2)", "Folders (1)", "Metadata (0)", "Messages (1)"):
        assert label in page
    users = page[page.index('id="collisions-user"'):page.index('id="collisions-folder"')]
    assert "<td>Mad</td><td>Mad10027</td>" in users and "Tom10028" in users
    assert "Old7" not in page  # reviewed already
    assert 'name="collision"' in page and "Mark Reviewed" in page


def test_mark_reviewed_takes_the_checked_ones_off_the_screen(client, sync_admin, collisions):
    client.force_login(sync_admin)
    mad, marketing = collisions["Mad"], collisions["Marketing"]
    page = client.post(reverse("sync:collisions"), {"collision": [mad.id, marketing.id]},
                       follow=True).content.decode()
    assert "2 marked reviewed." in page
    assert "Mad10027" not in page and "Marketing11329" not in page and "Tom10028" in page
    mad.refresh_from_db()
    assert mad.reviewed_by == "sam" and mad.reviewed_at is not None


def test_esync_collisions_lists_and_reviews(capsys, collisions):
    code, out, _ = esync(capsys, "collisions", "--json")
    listed = json.loads(out)
    assert code == 0
    assert [(c["kind"], c["original_name"], c["modified_name"]) for c in listed] == [
        ("user", "Mad", "Mad10027"), ("user", "Tom", "Tom10028"),
        ("folder", "Marketing", "Marketing11329"), ("message", "Welcome", "Welcome501")]

    code, out, _ = esync(capsys, "collisions", "review", str(collisions["Tom"].id),
                         str(collisions["Welcome"].id))
    assert code == 0 and "2 collisions marked reviewed" in out
    code, out, _ = esync(capsys, "collisions")
    assert "Mad10027" in out and "Tom10028" not in out and "Welcome501" not in out


def test_esync_collisions_review_of_an_unknown_id_is_refused_and_marks_nothing(capsys,
                                                                               collisions):
    code, _, err = esync(capsys, "collisions", "review", str(collisions["Mad"].id), "424242")
    assert code == 3 and "424242" in err
    assert Collision.objects.filter(reviewed_at__isnull=True).count() == 4


def test_mark_reviewed_and_email_sends_each_renamed_user_the_manuals_message(
        client, sync_admin, collisions, mailoutbox):
    from cms.models import User

    User.objects.create_user("Mad10027", "mad@example.com", "pass-word-1", id=10027)
    User.objects.create_user("Tom10028", "", "pass-word-1", id=10028)  # no address
    client.force_login(sync_admin)
    page = client.get(reverse("sync:collisions")).content.decode()
    users = page[page.index('id="collisions-user"'):page.index('id="collisions-folder"')]
    assert "Mark Reviewed and Email" in users and "Mark Reviewed and Email" not in page[
        page.index('id="collisions-folder"'):]

    page = client.post(reverse("sync:collisions"), {
        "collision": [collisions["Mad"].id, collisions["Tom"].id], "email": "1"},
        follow=True).content.decode()

    assert "2 marked reviewed and e-mailed." in page
    assert "not e-mailed: Tom10028" in page
    [message] = mailoutbox
    assert (message.to, message.subject) == (["mad@example.com"],
                                             "Your username has been changed")
    assert "Your new username is Mad10027." in message.body
    assert not Collision.objects.filter(kind="user", reviewed_at__isnull=True).exists()
    assert "Users (0)" in page


def test_mark_reviewed_and_email_is_for_users_only(capsys, collisions, mailoutbox):
    code, _, err = esync(capsys, "collisions", "review", str(collisions["Marketing"].id),
                         "--email")
    assert code == 3 and "user name collisions only" in err
    assert not mailoutbox and Collision.objects.filter(reviewed_at__isnull=True).count() == 4
