"""Privileged-account changes from a peer wait for an Administrator (issue 16, "Privileged
accounts"): held during a sync, listed on the Held changes screen and by `esync held`,
accepted (applied as they arrived) or dropped."""

import json
import subprocess

import pytest
from django.urls import reverse

from cms.models import Content, Folder, User
from cms.roles import ADMINISTRATORS
from syncengine import privileged_changes
from syncengine.change_sets import Change, fetch_rows, specs_by_name
from syncengine.models import HeldChange
from syncengine.privileged_changes import HeldChangeRefused, apply_held_back
from syncengine.tracked_tables import GROUPS_KEY
from tests.db_sync_helpers import LAST_RUN, run_python, staged_pair
from tests.real_instances import ESYNC, child_environment

STAGING = "staging-server-id"


def changed(obj, **values) -> Change:
    """`obj`'s row as a peer would send it, with `values` changed."""
    spec = specs_by_name()[obj._meta.db_table]
    row = fetch_rows(spec, [(obj.pk,)])[(obj.pk,)]
    row.update(values)
    return Change(spec.name, (obj.pk,), "U", 0, row)


def groups_of(username: str) -> list[str]:
    return list(User.objects.get(username=username).groups.values_list("name", flat=True))


@pytest.fixture
def bob(make_user) -> User:
    return make_user("bob")


@pytest.fixture
def page(db) -> Content:
    return Content.objects.create(folder=Folder.objects.create(name="Home"), title="Before")


@pytest.fixture
def held_bob(bob, page) -> HeldChange:
    """Given staging sent, in one batch, bob made an Administrator and a page retitled."""
    result = apply_held_back([changed(bob, **{GROUPS_KEY: [ADMINISTRATORS]}),
                              changed(page, title="After")], STAGING, "staging", accept=False)
    assert result.applied == 1
    (held,) = privileged_changes.pending()
    return held


# -- in process -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_change_making_a_user_an_administrator_is_held_and_the_rest_of_its_batch_applies(
        bob, page):
    result = apply_held_back([changed(bob, **{GROUPS_KEY: [ADMINISTRATORS]}),
                              changed(page, title="After")], STAGING, "staging", accept=False)

    assert result.applied == 1
    (skip,) = result.skipped
    assert (skip.stage, skip.table) == ("held", "cms_user")
    assert "held for an Administrator's review: bob joins Administrators" in skip.error
    assert Content.objects.get(pk=page.pk).title == "After"
    assert groups_of("bob") == []
    (held,) = privileged_changes.pending()
    assert (held.username, held.peer_name, held.reasons) == ("bob", "staging",
                                                             "joins Administrators")
    assert privileged_changes.held_note(privileged_changes.held_count(result.skipped)) == \
        "1 privileged-account change held for an Administrator (see Held changes)"


@pytest.mark.django_db
def test_a_new_superuser_and_an_administrators_new_password_are_held_a_members_is_not(
        bob, administrator, make_user):
    carol = make_user("carol")
    result = apply_held_back([changed(bob, is_superuser=True),
                              changed(administrator, password="pbkdf2_sha256$1$x$y"),
                              changed(carol, password="pbkdf2_sha256$1$x$z")],
                             STAGING, "staging", accept=False)

    assert result.applied == 1
    assert User.objects.get(username="carol").password == "pbkdf2_sha256$1$x$z"
    assert not User.objects.get(username="bob").is_superuser
    assert User.objects.get(username="alice").password != "pbkdf2_sha256$1$x$y"
    assert sorted((h.username, h.reasons) for h in privileged_changes.pending()) == [
        ("alice", "an Administrator's password changes"), ("bob", "becomes a superuser")]


@pytest.mark.django_db
def test_a_relationship_that_accepts_privileged_changes_applies_them(bob):
    result = apply_held_back([changed(bob, is_staff=True)], STAGING, "staging", accept=True)
    assert (result.applied, result.skipped) == (1, [])
    assert User.objects.get(username="bob").is_staff
    assert privileged_changes.pending() == []


@pytest.mark.django_db
def test_accepting_applies_the_held_change_and_a_second_decision_is_refused(held_bob):
    said = privileged_changes.decide_and_say(held_bob.id, True, "alice")

    assert said == (f"Accepted held change {held_bob.id} from staging (bob: joins "
                    "Administrators); it is applied.")
    assert groups_of("bob") == [ADMINISTRATORS]
    held_bob.refresh_from_db()
    assert (held_bob.decision, held_bob.decided_by) == ("accepted", "alice")
    assert privileged_changes.pending() == []
    with pytest.raises(HeldChangeRefused,
                       match=f"held change {held_bob.id} was already accepted by alice"):
        privileged_changes.decide(held_bob.id, False, "alice")
    held_bob.refresh_from_db()
    assert held_bob.decision == "accepted"


@pytest.mark.django_db
def test_dropping_leaves_the_account_as_it_was(held_bob):
    said = privileged_changes.decide_and_say(held_bob.id, False, "alice")

    assert said.startswith(f"Dropped held change {held_bob.id} from staging")
    assert groups_of("bob") == []
    with pytest.raises(HeldChangeRefused, match="was already dropped by alice"):
        privileged_changes.decide(held_bob.id, True, "alice")
    assert groups_of("bob") == []
    with pytest.raises(HeldChangeRefused, match="there is no held change 999999"):
        privileged_changes.decide(999999, True, "alice")


# -- the Held changes screen ------------------------------------------------------------------

@pytest.mark.django_db
def test_an_administrator_sees_the_held_changes_and_accepts_one(client, administrator,
                                                                held_bob):
    client.force_login(administrator)
    page = client.get(reverse("sync:held")).content.decode()

    assert f'id="held-{held_bob.id}"' in page
    assert "<td>bob</td><td>joins Administrators</td><td>staging</td>" in page
    decide_url = reverse("sync:held_decide", args=[held_bob.id])
    assert f'action="{decide_url}" data-confirm="Apply the change from staging to bob ' \
           '(joins Administrators)?"' in page
    assert "csrfmiddlewaretoken" in page
    # the logs screen links to it, for Administrators
    assert reverse("sync:held") in client.get(reverse("sync:logs")).content.decode()

    answer = client.post(decide_url, {"decision": "accept"}, follow=True).content.decode()

    assert f"Accepted held change {held_bob.id} from staging (bob: joins Administrators); " \
           "it is applied." in answer
    assert "No changes are held for review." in answer
    assert groups_of("bob") == [ADMINISTRATORS]
    # deciding again is refused with a sentence
    again = client.post(decide_url, {"decision": "drop"}, follow=True)
    assert again.status_code == 200
    assert f"Held change {held_bob.id} was already accepted by alice." in \
        again.content.decode()


@pytest.mark.django_db
def test_an_administrator_drops_a_held_change(client, administrator, held_bob):
    client.force_login(administrator)
    url = reverse("sync:held_decide", args=[held_bob.id])
    assert client.get(url).status_code == 405

    answer = client.post(url, {"decision": "drop"}, follow=True).content.decode()

    assert f"Dropped held change {held_bob.id} from staging (bob: joins Administrators); " \
           "nothing was changed." in answer
    assert groups_of("bob") == []


@pytest.mark.django_db
def test_a_synchronization_admin_and_anonymous_visitors_cannot_decide(client, sync_admin,
                                                                      held_bob):
    url = reverse("sync:held_decide", args=[held_bob.id])
    for screen in (reverse("sync:held"), url):
        assert client.get(screen)["Location"].startswith(reverse("login"))
    assert client.post(url, {"decision": "accept"})["Location"].startswith(reverse("login"))

    client.force_login(sync_admin)
    assert client.get(reverse("sync:held")).status_code == 403
    assert client.post(url, {"decision": "accept"}).status_code == 403
    assert reverse("sync:held") not in client.get(reverse("sync:logs")).content.decode()
    assert [h.id for h in privileged_changes.pending()] == [held_bob.id]
    assert groups_of("bob") == []


# -- two real instances -----------------------------------------------------------------------

NEW_ADMINISTRATORS_AND_A_PAGE = """
from django.contrib.auth.models import Group
from cms.models import Content, User
for name in ("bob", "carol"):
    u = User.objects.create_user(name, password="new-admin-pass-1")
    u.groups.add(Group.objects.get(name="Administrators"))
c = Content.objects.order_by("id").first()
c.title = "Retitled on staging"
c.save()
result = c.id
"""

STATE_OF = """
from cms.models import Content, User
result = dict(title=Content.objects.get(id={id}).title,
              users={{u.username: sorted(u.groups.values_list("name", flat=True))
                     for u in User.objects.filter(username__in=["bob", "carol"])}})
"""


BOB = """
from cms.models import User
bob = User.objects.get(username="bob")
{change}
result = dict(password=bob.password, superuser=bob.is_superuser)
"""


@pytest.mark.slow
def test_an_upload_making_users_administrators_is_held_until_production_accepts_it(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        # given staging makes two new users Administrators and retitles a page
        content_id = run_python(staging, NEW_ADMINISTRATORS_AND_A_PAGE)
        pair.add_profile("Up", "upload")

        # when staging uploads its database
        pair.sync("Up")

        # then production has the page but holds the two accounts, and staging's log says so
        assert run_python(production, STATE_OF.format(id=content_id)) == {
            "title": "Retitled on staging", "users": {}}
        run = run_python(staging, LAST_RUN)
        assert run["status"] == "warning", run
        assert "; 2 privileged-account changes held for an Administrator (see Held changes)" \
            in run["message"]
        assert sorted((s["stage"], s["side"]) for s in run["skips"]) == [
            ("held", "remote"), ("held", "remote")]
        listed = json.loads(production.esync("held", "--json").stdout)
        assert [(h["username"], h["reasons"], h["peer"]) for h in listed] == [
            ("carol", "joins Administrators", "staging"),
            ("bob", "joins Administrators", "staging")]
        bob, carol = listed[1]["id"], listed[0]["id"]
        assert "bob: joins Administrators (from staging, " in production.esync("held").stdout

        # when production's administrator drops carol's without a terminal and without --yes
        refused = subprocess.run(
            [*ESYNC, "--home", str(production.home), "held", "drop", str(carol)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            env=child_environment(), timeout=120)
        # then it is refused with a sentence, and stays held
        assert refused.returncode == 3, refused
        assert f"dropping held change {carol} needs --yes" in refused.stderr
        assert [h["id"] for h in json.loads(production.esync("held", "--json").stdout)] == [
            carol, bob]

        # when they drop carol's with --yes and accept bob's
        dropped = production.esync("held", "drop", str(carol), "--yes")
        accepted = production.esync("held", "accept", str(bob))

        # then bob is an Administrator on production, carol is not there
        assert f"Dropped held change {carol} from staging" in dropped.stdout
        assert accepted.stdout.strip() == (f"Accepted held change {bob} from staging (bob: "
                                           "joins Administrators); it is applied.")
        assert run_python(production, STATE_OF.format(id=content_id))["users"] == {
            "bob": ["Administrators"]}
        assert json.loads(production.esync("held", "--json").stdout) == []
        before = run_python(production, BOB.format(change=""))

        # and a decided or unknown change is refused with a sentence
        again = production.esync("held", "accept", str(bob), check=False)
        assert again.returncode == 3
        assert f"held change {bob} was already accepted by command line" in again.stderr
        unknown = production.esync("held", "drop", "999", "--yes", check=False)
        assert (unknown.returncode, unknown.stderr.strip()) == (
            3, "esync: there is no held change 999")

        # given bob is an Administrator on both sides, when staging changes his password and
        # uploads, then production keeps his password and holds the change
        run_python(staging, BOB.format(change='bob.set_password("another-pass-2"); bob.save()'))
        pair.sync("Up")
        assert run_python(production, BOB.format(change="")) == before
        assert "1 privileged-account change held" in run_python(staging, LAST_RUN)["message"]
        (held,) = json.loads(production.esync("held", "--json").stdout)
        assert (held["username"], held["reasons"]) == ("bob",
                                                      "an Administrator's password changes")

        # given production accepts staging's privileged changes, when staging makes bob a
        # superuser and uploads, then it applies directly and nothing more is held
        (grant,) = json.loads(production.esync("relationship", "peers", "--json").stdout)
        production.esync("relationship", "narrow", str(grant["id"]), "--accept-privileged")
        run_python(staging, BOB.format(change="bob.is_superuser = True; bob.save()"))
        pair.sync("Up")
        now = run_python(production, BOB.format(change=""))
        assert now["superuser"] is True
        assert now["password"] == run_python(staging, BOB.format(change=""))["password"]
        assert "held" not in run_python(staging, LAST_RUN)["message"]
        assert [h["id"] for h in json.loads(production.esync("held", "--json").stdout)] == [
            held["id"]]

