"""What a peer may write here: the relationships a peer holds with this server, as the
answering server's administrator sees them ("Profiles of PEER that write here") and narrows
them (the screen's form, `esync relationship narrow`), and the writes that fall outside them
refused with a sentence, whatever the peer's certificate."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.db_sync_helpers import (
    EDIT_CONTENT,
    FIRST_CONTENT,
    LAST_RUN,
    TITLE_OF,
    run_python,
    staged_pair,
)
from tests.real_instances import ADMIN_PASSWORD, RealInstance
from tests.sync_helpers import ANNOUNCED_CLIENT, create_relationship, trust_both_ways
from tests.workarea_client import WorkareaClient

SCREEN = "/workarea/settings/synchronization/"
SECTION = "Profiles of staging that write here"

# Staging's side of the conversation, as its own code would hold it: a client of production's
# sync service whose requests belong to an announced relationship (and run), and `ask`, which
# records how production answered each request.
ASKING = ANNOUNCED_CLIENT + """
import json
from syncengine.peer_errors import PeerError
answers = {}
def ask(name, client, method, path, body=b"", headers=None):
    try:
        with client.open(method, path, body=body,
                         headers={"Content-Length": str(len(body)), **(headers or {})}) as r:
            answers[name] = "accepted: " + b"".join(r.body).decode()[:300]
    except PeerError as error:
        answers[name] = str(error)
def framed(path, body=b"evil"):
    import xxhash
    header = json.dumps(dict(path=path, size=len(body), mtime_ns=0,
                             digest=xxhash.xxh3_128_hexdigest(body)))
    return header.encode() + b"\\n" + body + json.dumps(dict(end=True)).encode() + b"\\n"
STAMP = "stamp=20261125-120000-run1"
"""


def answers_of(staging: RealInstance, production: RealInstance, script: str) -> dict:
    printed = staging.python(ASKING + script.replace("PORT", str(production.sync_port))
                             + "\nprint(json.dumps(answers))")
    return json.loads(printed.strip().splitlines()[-1])


def site_files(instance: RealInstance) -> set[str]:
    root = instance.home / "siteroot"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def section_of(page: str, peer_relationship: int) -> str:
    """The "Profiles of PEER that write here" section of one relationship, or ""."""
    start = page.find(f'id="peer-relationship-{peer_relationship}"')
    return "" if start < 0 else page[start:page.index("</section>", start)]


def peers_here(production: RealInstance) -> list[dict]:
    return json.loads(production.esync("relationship", "peers", "--json").stdout)


class Browser(WorkareaClient):
    """A signed-in (or anonymous) visitor of a running instance's Workarea that also posts
    forms, with the CSRF token the page gave it."""

    def post(self, path: str, fields: list[tuple[str, str]], page: str,
             follow: bool = True) -> tuple[int, str, str]:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode([("csrfmiddlewaretoken", token), *fields]).encode()
        request = urllib.request.Request(self.base_url + path, data=data,
                                         headers={"Referer": self.base_url + SCREEN})
        opener = self.opener if follow else urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirects())
        try:
            with opener.open(request, timeout=20) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", ""), error.read().decode()


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def narrow_form_action(section: str) -> str:
    return re.search(r'<form class="narrow" method="post" action="([^"]+)"', section).group(1)


# -- the screen lists what a peer's profiles write here -------------------------------------

@pytest.mark.slow
def test_a_profile_staging_saves_is_listed_on_productions_screen_until_it_is_deleted(
        real_instances, tmp_path):
    # given two instances paired (production serving), staging holding a relationship
    staging = real_instances("staging")
    production = real_instances("production")
    trust_both_ways(staging, production, tmp_path)
    with production.serving():
        relationship = create_relationship(staging, production, "upload")
        # when staging saves an upload profile of templates, and one that only downloads
        staging.esync("profile", "add", str(relationship), "--name", "Templates up",
                      "--items", "templates", "--direction", "upload")
        staging.esync("profile", "add", str(relationship), "--name", "Pull db",
                      "--items", "database", "--direction", "download")
        (grant,) = peers_here(production)
        administrator = Browser(production.web_url)
        administrator.sign_in("admin", ADMIN_PASSWORD)
        section = section_of(administrator.get(SCREEN), grant["id"])

        # then production's configurations screen lists both under "Profiles of staging
        # that write here", the upload one writing templates here, the download one nothing
        assert SECTION in section
        upload = section[section.index("Templates up"):]
        upload = upload[:upload.index("</tr>")]
        assert "Upload (staging → here)" in upload
        assert "No filter (all but .config, .sln, .txt)" in upload
        assert "Yes: templates" in upload
        download = section[section.index("Pull db"):]
        assert "No: it only reads from here" in download[:download.index("</tr>")]
        assert "staging may now write templates here." in section
        assert [p["name"] for p in grant["profiles"]] == ["Pull db", "Templates up"]
        assert grant["may_write"] == ["templates"]

        # when staging deletes the upload profile, then the screen no longer lists it
        staging.esync("profile", "delete", "Templates up", "--yes")
        section = section_of(administrator.get(SCREEN), grant["id"])
        assert "Pull db" in section
        assert "Templates up" not in section
        assert "staging may now write nothing here." in section

        # when staging deletes the relationship, then production lists it no more, and any
        # request naming it is refused with 403 and a sentence
        staging.esync("relationship", "delete", str(relationship), "--yes")
        assert SECTION not in administrator.get(SCREEN)
        assert peers_here(production) == []
        answers = answers_of(staging, production, f"""
from certificates.models import TrustedPeer
from syncengine.peer_client import PeerClient
gone = PeerClient.for_peer(TrustedPeer.objects.get(), "127.0.0.1", PORT,
                           relationship_id={relationship}, run_id=1)
ask("changes", gone, "GET", "/changes?since=0")
ask("manifest", gone, "GET", "/files/manifest?items=templates")
ask("files", gone, "POST", "/files/receive?items=templates&" + STAMP,
    framed("css/after-delete.css"))
""")
    for name, answer in answers.items():
        assert f"answered 403: staging holds no relationship {relationship} with this " \
               "instance (it was deleted, or never announced)" in answer, (name, answer)
    assert "css/after-delete.css" not in site_files(production)


# -- writes outside the announced profiles ----------------------------------------------------

@pytest.mark.slow
def test_writes_outside_what_the_announced_profiles_move_are_refused_and_nothing_lands(
        real_instances, tmp_path):
    # given staging has announced one profile of database and templates, no bin
    staging = real_instances("staging")
    production = real_instances("production")
    trust_both_ways(staging, production, tmp_path)
    before = site_files(production)
    with production.sync_serving():
        answers = answers_of(staging, production, """
client = announced_client(PORT, items=("database", "templates"), direction="upload")
# when it sends bin/ files, a chunk of one, or names bin/ among templates
ask("bin stream", client, "POST", "/files/receive?items=bin&" + STAMP, framed("bin/evil.dll"))
ask("bin chunk", client, "POST", "/files/chunk?items=bin&path=bin/evil.dll&offset=0&digest=ab"
    "&size=4&mtime_ns=0&" + STAMP, b"evil")
ask("bin as templates", client, "POST", "/files/receive?items=templates&" + STAMP,
    framed("bin/evil.dll"))
# when it sends a .config file (a global exception) with no Include filter naming .config
ask("config stream", client, "POST", "/files/receive?items=templates&" + STAMP,
    framed("css/site.config"))
ask("config chunk", client, "POST", "/files/chunk?items=templates&path=css/site.config"
    "&offset=0&digest=ab&size=4&mtime_ns=0&" + STAMP, b"evil")
# when its profile says Include .config, the same file is accepted
client = announced_client(PORT, items=("templates",), direction="upload",
                          filter="include", extensions="*.config, *.css")
ask("config included", client, "POST", "/files/receive?items=templates&" + STAMP,
    framed("css/site.config", b"<configuration/>"))
""")

    # then bin/ is refused with 403 and a sentence saying why
    for name in ("bin stream", "bin chunk"):
        assert "answered 403: staging may not write bin on production: no profile of " \
               "staging's relationship 1 moves bin towards production (upload or " \
               "bidirectional). It may write: database and templates." in answers[name], \
            (name, answers[name])
    assert answers["bin as templates"].startswith(
        'accepted: {"landed": [], "refused": [{"path": "bin/evil.dll", "error": "\'bin/evil.dll'
        '\' is not a file this profile synchronizes"}]}'), answers["bin as templates"]
    # ...and .config is refused unless an Include filter names it
    for name in ("config stream", "config chunk"):
        assert re.search(r"(answered 4\d\d: |\"error\": \")'css/site.config' is not a file a "
                         r"profile of this "
                         r"relationship writes here \(its category, its filter or the global "
                         r"exceptions .config, .txt, .sln\)", answers[name]), \
            (name, answers[name])
    assert answers["config included"].startswith('accepted: {"landed": ["css/site.config"]')
    # and nothing else landed, anywhere in the site root
    assert site_files(production) - before == {"css/site.config"}
    assert (production.home / "siteroot/css/site.config").read_text() == "<configuration/>"
    incoming = production.home / "state" / "incoming"  # partial uploads and staged files
    assert not incoming.exists() or not list(incoming.iterdir())


@pytest.mark.slow
def test_a_chunk_or_change_set_that_belongs_to_no_run_in_progress_is_refused(
        real_instances, tmp_path):
    # given staging has announced a relationship that may write everything
    staging = real_instances("staging")
    production = real_instances("production")
    trust_both_ways(staging, production, tmp_path)
    before = site_files(production)
    with production.sync_serving():
        answers = answers_of(staging, production, """
mark = json.dumps(dict(mark=0)).encode() + b"\\n"
chunk = ("/files/chunk?items=templates&path=css/chunked.css&offset=0&digest=ab&size=4"
         "&mtime_ns=0&" + STAMP)
# when a chunk and a change set name no run (no run header)
no_run = announced_client(PORT, run=None)
ask("chunk, no run", no_run, "POST", chunk, b"data")
ask("change set, no run", no_run, "POST", "/changes/apply", mark)
# when they name a run staging never announced
never = announced_client(PORT, run=None)
never.run_id = 77
ask("chunk, unknown run", never, "POST", chunk, b"data")
# when they name a run that has ended
ended = announced_client(PORT, run=5)
ended.post_json("/relationship/run-end", dict(run=5))
ask("chunk, ended run", ended, "POST", chunk, b"data")
ask("change set, ended run", ended, "POST", "/changes/apply", mark)
# while a run is in progress the same chunk is taken
ask("chunk, run in progress", announced_client(PORT, run=6), "POST", chunk, b"data")
""")

    # then each is refused with 403 and a sentence, and only the run in progress's is taken
    for name in ("chunk, no run", "change set, no run", "chunk, unknown run",
                 "chunk, ended run", "change set, ended run"):
        assert "answered 403: this write belongs to no run of staging in progress here: " \
               "writes are accepted only between a run's start and its end" in answers[name], \
            (name, answers[name])
    assert answers["chunk, run in progress"].startswith("accepted"), \
        answers["chunk, run in progress"]
    assert site_files(production) == before


# -- production's administrator narrows what staging may write ------------------------------

MAKE_SYNC_ADMIN = """
from django.contrib.auth.models import Group
from cms.models import User
from cms.roles import SYNCHRONIZATION_ADMIN
sam = User.objects.create_user("sam", "sam@example.com", "sync-admin-pass-1")
sam.groups.add(Group.objects.get(name=SYNCHRONIZATION_ADMIN))
"""


@pytest.mark.slow
def test_a_synchronization_admin_narrows_what_staging_may_write_on_productions_screen(
        real_instances, tmp_path):
    # given two instances paired, staging with an upload profile of database and templates
    staging = real_instances("staging")
    production = real_instances("production")
    trust_both_ways(staging, production, tmp_path)
    with production.serving():
        relationship = create_relationship(staging, production, "upload")
        staging.esync("profile", "add", str(relationship), "--name", "Everything up",
                      "--items", "database,templates", "--direction", "upload")
        (grant,) = peers_here(production)
        assert grant["may_write"] == ["database", "templates"]
        action = f"{SCREEN}peer-relationships/{grant['id']}/narrow/"

        # an anonymous visitor cannot narrow it: sent to sign in, nothing changed
        anonymous = Browser(production.web_url)
        login = anonymous.get("/accounts/login/")
        status, where, _ = anonymous.post(action, [("nothing", "1")], login, follow=False)
        assert (status, urllib.parse.urlparse(where).path) == (302, "/accounts/login/")
        # ...nor a signed-in Synchronization Admin's post without the page's CSRF token
        production.python(MAKE_SYNC_ADMIN)
        sam = Browser(production.web_url)
        sam.sign_in("sam", "sync-admin-pass-1")
        page = sam.get(SCREEN)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        assert sam.post(action, [("nothing", "1")], page.replace(token, "forged" * 8))[0] == 403
        assert peers_here(production) == [grant]

        # when the Synchronization Admin saves the form with no item ticked, nothing changes:
        # the screen points to Allow nothing, which asks first
        section = section_of(page, grant["id"])
        assert narrow_form_action(section) == action
        assert 'data-confirm="staging will not be able to write anything here' in section
        _, _, answer = sam.post(action, [], page)
        assert "Nothing changed: with no item ticked staging could write nothing here" in \
            answer
        assert peers_here(production) == [grant]

        # when the Synchronization Admin unticks Templates and saves
        _, _, answer = sam.post(action, [("items", "database"), ("items", "workarea"),
                                         ("items", "bin")], page)
        # then the screen says what staging may now write, and the box stays unticked
        assert "Saved. staging may now write database here; privileged-account changes are " \
               "held for review." in answer
        section = section_of(answer, grant["id"])
        assert 'value="templates">' in section and 'value="database" checked>' in section
        assert "Yes: database" in section[section.index("Everything up"):]
        (narrowed,) = peers_here(production)
        assert (narrowed["allowed_items"], narrowed["may_write"]) == (
            ["database", "workarea", "bin"], ["database"])

        # and a templates upload from staging is refused with 403 and a sentence
        answers = answers_of(staging, production, f"""
from certificates.models import TrustedPeer
from syncengine.peer_client import PeerClient
from syncengine.models import SyncRun
from relationships import announcements
from relationships.models import Relationship
relationship = Relationship.objects.get(id={relationship})
run = SyncRun.objects.create(kind="FullSync", relationship=relationship, direction="upload")
announcements.announce(relationship, run)
client = PeerClient.for_peer(TrustedPeer.objects.get(), "127.0.0.1", PORT,
                             relationship_id=relationship.id, run_id=run.id)
ask("templates", client, "POST", "/files/receive?items=templates&" + STAMP,
    framed("css/narrowed.css"))
""")
        assert "answered 403: staging may not write templates on production: production's " \
               "administrator does not allow staging to write templates there. It may " \
               "write: database." in answers["templates"], answers
        assert "css/narrowed.css" not in site_files(production)

        # when the Synchronization Admin presses Allow nothing (after its question)
        _, _, answer = sam.post(action, [("nothing", "1")], sam.get(SCREEN))
        # then staging may write nothing here, privileged changes held
        assert "Saved. staging may now write nothing here." in answer
        (stopped,) = peers_here(production)
        assert (stopped["allowed_items"], stopped["accept_privileged_changes"]) == ([], False)


@pytest.mark.slow
def test_a_profile_run_refused_by_the_narrowing_says_why_in_its_log_until_the_cli_allows_it(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        # given staging has an upload profile of templates, and a new template to send
        staging.esync("profile", "add", str(pair.relationship), "--name", "Templates up",
                      "--items", "templates", "--direction", "upload")
        (staging.home / "siteroot/css").mkdir(exist_ok=True)
        (staging.home / "siteroot/css/narrowed.css").write_text("body { color: teal }")
        (grant,) = peers_here(production)

        # when production's administrator narrows the relationship to the database
        narrowed = production.esync("relationship", "narrow", str(grant["id"]),
                                    "--items", "database")
        assert narrowed.stdout.splitlines() == [
            "staging may now write database here; privileged-account changes are held for "
            "review.", "At most: database."]
        listing = production.esync("relationship", "peers").stdout
        assert "staging may now write database here" in listing
        assert "- Templates up: templates · Upload (staging → here) · No filter (all but " \
               ".config, .sln, .txt) · writes nothing here" in listing

        # then the profile's run on staging moves nothing, and its log says why
        pair.sync("Templates up", check=False)
        run = run_python(staging, LAST_RUN)
        refusal = ("answered 403: staging may not write templates on production: "
                   "production's administrator does not allow staging to write templates "
                   "there. It may write: database.")
        # (the refusal is the run's, not one file's: the run fails with it)
        assert run["status"] == "failed", run
        assert run["applied"] == 0, run
        assert refusal in run["message"], run
        assert refusal in staging.esync("log", str(_run_id(staging))).stdout
        assert not (production.home / "siteroot/css/narrowed.css").exists()

        # when production's administrator allows templates again from the command line
        allowed = production.esync("relationship", "narrow", str(grant["id"]),
                                   "--items", "database,templates", "--hold-privileged")
        assert "staging may now write database and templates here; privileged-account " \
               "changes are held for review." in allowed.stdout
        # then the same run succeeds and the template lands
        pair.sync("Templates up")
        assert (production.home / "siteroot/css/narrowed.css").read_text() == \
            "body { color: teal }"

        # and the command line changes only what it is given, and refuses what it cannot do
        accepted = production.esync("relationship", "narrow", str(grant["id"]),
                                    "--accept-privileged")
        assert "privileged-account changes apply" in accepted.stdout
        (after,) = peers_here(production)
        assert (after["allowed_items"], after["accept_privileged_changes"]) == (
            ["database", "templates"], True)
        unknown = production.esync("relationship", "narrow", str(grant["id"]), "--items",
                                   "database,secrets", check=False)
        assert unknown.returncode == 2
        assert "secrets: give some of database, workarea, templates, bin, or none" in \
            unknown.stderr
        missing = production.esync("relationship", "narrow", "999", "--items", "none",
                                   check=False)
        assert missing.returncode == 3
        assert "No peer relationship '999' here" in missing.stderr
        nothing_given = production.esync("relationship", "narrow", str(grant["id"]),
                                         check=False)
        assert nothing_given.returncode == 2
        assert peers_here(production) == [after]


@pytest.mark.slow
def test_a_database_profile_run_fails_with_the_refusal_once_production_narrows_out_database(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        staging, production = pair.staging, pair.production
        # given two instances paired, when staging saves an upload profile of the database
        staging.esync("profile", "add", str(pair.relationship), "--name", "Db up",
                      "--items", "database", "--direction", "upload")
        # then `esync relationship peers --json` on production lists it, writing the database
        (grant,) = peers_here(production)
        (db_up,) = [p for p in grant["profiles"] if p["name"] == "Db up"]
        assert (db_up["items"], db_up["direction"], db_up["writes_here"]) == (
            ["database"], "upload", ["database"])

        # when production narrows the relationship to everything but the database
        production.esync("relationship", "narrow", str(grant["id"]),
                         "--items", "workarea,templates,bin")
        content_id = run_python(staging, FIRST_CONTENT)
        run_python(staging, EDIT_CONTENT.format(id=content_id, title="Not for production"))
        # then staging's sync of the profile fails, saying why
        synced = pair.sync("Db up", check=False)
        assert synced.returncode != 0
        assert "production's administrator does not allow staging to write database there" \
            in synced.stdout + synced.stderr
        assert run_python(production, TITLE_OF.format(id=content_id)) != "Not for production"


def _run_id(instance: RealInstance) -> int:
    return run_python(instance, "from syncengine.models import SyncRun\n"
                                "result = SyncRun.objects.order_by('-id').first().id")


# -- the screen and the rules, in this process ------------------------------------------------

def a_peer(name: str = "staging"):
    from certificates.models import TrustedPeer

    n = sum(map(ord, name))
    return TrustedPeer.objects.create(
        name=name, server_id=f"00000000-0000-0000-0000-{n:012d}", esync_version="0.1.0",
        server_cert_pem="", client_cert_pem="", server_fingerprint=f"s{name}",
        client_fingerprint=f"c{name}", server_not_after="2030-01-01T00:00Z",
        client_not_after="2030-01-01T00:00Z")


def announce(peer, relationship: int, *profiles: tuple[str, list[str], str]):
    from relationships import peer_grants

    return peer_grants.announce(peer, {
        "relationship": relationship, "initial_direction": "upload",
        "profiles": [{"id": n, "name": name, "items": items, "direction": direction}
                     for n, (name, items, direction) in enumerate(profiles, 1)]})


@pytest.mark.django_db
def test_the_screens_queries_do_not_grow_with_peers_relationships_and_profiles(
        client, sync_admin):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(sync_admin)
    announce(a_peer("staging"), 1, ("Db", ["database"], "upload"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(SCREEN)
        return len(captured)

    small = queries()
    development = a_peer("development")
    for relationship in range(2, 6):
        announce(development, relationship, *[(f"P{n}", ["templates", "bin"], "bidirectional")
                                              for n in range(5)])
    assert queries() == small
    page = client.get(SCREEN).content.decode()
    assert page.count("Profiles of development that write here") == 4
    assert page.count('class="announced-profile"') == 21


@pytest.mark.django_db
def test_what_a_peer_announces_is_escaped_on_the_screen(client, administrator):
    client.force_login(administrator)
    announce(a_peer("<b>staging</b>"), 1, ("<script>alert(1)</script>", ["database"], "upload"))
    page = client.get(SCREEN).content.decode()
    assert "<script>alert(1)" not in page and "<b>staging" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Profiles of &lt;b&gt;staging&lt;/b&gt; that write here" in page


@pytest.mark.django_db
def test_a_peer_cannot_step_around_a_narrowing_by_announcing_another_relationship():
    from relationships import peer_grants

    # given production's administrator narrowed staging's relationship to the database
    staging = a_peer("staging")
    narrowed = announce(staging, 1, ("All", ["database", "templates", "bin"], "upload"))
    peer_grants.narrow(narrowed, ["database"], privileged=False)
    # when staging announces a relationship of another id, moving everything
    other = announce(staging, 2, ("All", ["database", "templates", "bin"], "upload"))
    # then it may write no more than the narrowed one; another peer's first is not narrowed
    assert peer_grants.writable_items(other) == {"database"}
    with pytest.raises(peer_grants.NotAllowed, match="may not write templates and bin"):
        peer_grants.refuse_unless_writable(other, ["templates", "bin"])
    first = announce(a_peer("development"), 1, ("All", ["templates"], "upload"))
    assert peer_grants.writable_items(first) == {"templates"}


@pytest.mark.django_db
def test_a_peer_cannot_reset_a_narrowing_by_withdrawing_its_relationship_first():
    from relationships import peer_grants

    # given production's administrator narrowed staging's only relationship to the database
    staging = a_peer("staging")
    narrowed = announce(staging, 1, ("All", ["database", "templates", "bin"], "upload"))
    peer_grants.narrow(narrowed, ["database"], privileged=False)
    # when staging withdraws it, then announces a fresh one moving everything
    assert peer_grants.remove(staging, 1)
    with pytest.raises(peer_grants.NotAllowed, match="holds no relationship 1"):
        peer_grants.grant_of(staging, "1")
    fresh = announce(staging, 2, ("All", ["database", "templates", "bin"], "upload"))
    # then the fresh one is bounded by the narrowing; the old id, announced again, keeps it
    assert peer_grants.writable_items(fresh) == {"database"}
    again = announce(staging, 1, ("All", ["database", "templates"], "upload"))
    assert peer_grants.writable_items(again) == {"database"}
    assert peer_grants.grant_of(staging, "1") == again



@pytest.mark.django_db
def test_the_narrowing_form_is_a_post_with_its_csrf_token_for_the_sync_roles(
        sync_admin, administrator, editor):
    from django.test import Client

    grant = announce(a_peer(), 1, ("Db", ["database", "templates"], "upload"))
    url = f"{SCREEN}peer-relationships/{grant.id}/narrow/"
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(sync_admin)
    assert checked.get(url).status_code == 405
    assert checked.post(url, {"items": ["database"]}).status_code == 403
    plain = Client()
    plain.force_login(editor)
    assert plain.post(url, {"items": ["database"]}).status_code == 403
    grant.refresh_from_db()
    assert grant.writable_items == ["database", "workarea", "templates", "bin"]

    # a Synchronization Admin narrows the items, but cannot let privileged changes apply
    plain.force_login(sync_admin)
    answer = plain.post(url, {"items": ["templates", "nonsense"]}, follow=True)
    assert "Nothing changed: tick some of database" in answer.content.decode()
    answer = plain.post(url, {"items": ["templates"], "accept_privileged": "1"}, follow=True)
    assert "Nothing changed: only an Administrator can let a peer&#x27;s privileged-account " \
           "changes apply here." in answer.content.decode()
    section = section_of(answer.content.decode(), grant.id)
    assert 'name="accept_privileged" value="1" disabled>' in section
    answer = plain.post(url, {"items": ["database", "templates"]}, follow=True)
    assert "Saved. staging may now write database and templates here; privileged-account " \
           "changes are held for review." in answer.content.decode()

    # an Administrator can; a Synchronization Admin may then turn it off again
    plain.force_login(administrator)
    answer = plain.post(url, {"items": ["database"], "accept_privileged": "1"}, follow=True)
    assert "Saved. staging may now write database here; privileged-account changes apply." \
        in answer.content.decode()
    grant.refresh_from_db()
    assert (grant.writable_items, grant.accept_privileged_changes) == (["database"], True)
    plain.force_login(sync_admin)
    plain.post(url, {"items": ["database"]})
    grant.refresh_from_db()
    assert (grant.writable_items, grant.accept_privileged_changes) == (["database"], False)


@pytest.mark.django_db
def test_the_section_lists_the_announced_profiles_and_allow_nothing_asks_first(
        client, sync_admin):
    from relationships import peer_grants

    # given staging announced an upload profile with a filter and a download profile
    grant = peer_grants.announce(a_peer(), {
        "relationship": 4, "initial_direction": "upload", "profiles": [
            {"id": 1, "name": "Site up", "items": ["templates", "database"],
             "direction": "upload", "filter": "include", "extensions": ".css, .js"},
            {"id": 2, "name": "Pull bin", "items": ["bin"], "direction": "download"}]})
    client.force_login(sync_admin)
    section = section_of(client.get(SCREEN).content.decode(), grant.id)

    # then the section names each profile, its items, direction and filter
    assert SECTION in section
    site_up = section[section.index("Site up"):]
    site_up = site_up[:site_up.index("</tr>")]
    assert "Database/Resources" in site_up and "Upload (staging → here)" in site_up
    assert "Only include .css, .js" in site_up
    assert "Yes: database, templates" in site_up
    pull_bin = section[section.index("Pull bin"):]
    assert "Download (here → staging)" in pull_bin[:pull_bin.index("</tr>")]
    assert "No: it only reads from here" in pull_bin[:pull_bin.index("</tr>")]
    # and the form ticks all four items, privileged-account changes off
    for item in ("database", "workarea", "templates", "bin"):
        assert f'name="items" value="{item}" checked>' in section
    assert 'name="accept_privileged" value="1" checked' not in section
    # and "Allow nothing" asks before it is sent (workarea.js reads data-confirm)
    nothing = section[section.index('<form class="narrow-nothing"'):]
    assert 'data-confirm="staging will not be able to write anything here' in nothing
    assert "<script" not in section

    # when the Synchronization Admin saves with no item ticked, then nothing changes
    url = narrow_form_action(section)
    answer = client.post(url, {}, follow=True).content.decode()
    assert "Nothing changed: with no item ticked staging could write nothing here." in answer
    grant.refresh_from_db()
    assert grant.writable_items == list(peer_grants.ITEMS)
    # when they confirm Allow nothing, then staging may write nothing and the screen says so
    answer = client.post(url, {"nothing": "1"}, follow=True).content.decode()
    assert "Saved. staging may now write nothing here." in answer
    grant.refresh_from_db()
    assert (grant.writable_items, grant.accept_privileged_changes) == ([], False)
    assert 'name="items" value="database" checked>' not in section_of(answer, grant.id)


@pytest.mark.django_db
def test_a_bin_write_is_refused_when_no_profile_moves_bin_towards_this_server(settings):
    from relationships import peer_grants

    # given staging moves templates up, and bin only down
    grant = announce(a_peer(), 1, ("Templates up", ["templates"], "upload"),
                     ("Bin down", ["bin"], "download"))
    here = settings.ESYNC.name
    # then a bin write is refused, saying why and what staging may write
    with pytest.raises(peer_grants.NotAllowed) as refused:
        peer_grants.refuse_unless_writable(grant, ["bin"])
    assert str(refused.value) == (
        f"staging may not write bin on {here}: no profile of staging's relationship 1 moves "
        f"bin towards {here} (upload or bidirectional). It may write: templates.")
    assert not peer_grants.write_admits(grant)("bin/Site.dll")
    # and a templates write is allowed
    peer_grants.refuse_unless_writable(grant, ["templates"])
    assert peer_grants.write_admits(grant)("css/site.css")


@pytest.mark.django_db
def test_templates_are_refused_once_the_administrator_narrows_them_out(settings):
    from relationships import peer_grants

    grant = announce(a_peer(), 1, ("All up", ["database", "templates"], "bidirectional"))
    peer_grants.refuse_unless_writable(grant, ["database", "templates"])
    # when production's administrator narrows the relationship to the database
    peer_grants.narrow(grant, ["database"], privileged=False)
    here = settings.ESYNC.name
    # then a templates write is refused in the administrator's words; the database is not
    with pytest.raises(peer_grants.NotAllowed) as refused:
        peer_grants.refuse_unless_writable(grant, ["templates"])
    assert str(refused.value) == (
        f"staging may not write templates on {here}: {here}'s administrator does not allow "
        "staging to write templates there. It may write: database.")
    peer_grants.refuse_unless_writable(grant, ["database"])
    assert not peer_grants.write_admits(grant)("css/site.css")
    assert peer_grants.write_admits(grant)("uploadedimages/logo.png")
    assert peer_grants.may_write_in_words(grant) == (
        "staging may now write database here; privileged-account changes are held for review.")


@pytest.mark.django_db
def test_a_config_file_is_written_only_when_an_include_filter_names_config():
    from relationships import peer_grants

    staging = a_peer()
    # given staging moves templates with no filter, and workarea excluding .css
    unfiltered = peer_grants.announce(staging, {
        "relationship": 1, "initial_direction": "upload", "profiles": [
            {"id": 1, "name": "Templates", "items": ["templates"], "direction": "upload"},
            {"id": 2, "name": "Workarea", "items": ["workarea"], "direction": "upload",
             "filter": "exclude", "extensions": ".css"}]})
    admits = peer_grants.write_admits(unfiltered)
    # then a .config (or .txt, .sln) is refused, as the manual's global exceptions say
    assert not admits("site.config") and not admits("workarea/site.config")
    assert not admits("notes.txt") and not admits("Site.sln")
    assert admits("default.aspx") and not admits("workarea/site.css")
    # given a profile whose Only include filter names .config
    included = peer_grants.announce(staging, {
        "relationship": 2, "initial_direction": "upload", "profiles": [
            {"id": 3, "name": "Configs", "items": ["templates"], "direction": "upload",
             "filter": "include", "extensions": ".config"}]})
    # then a .config is written, and nothing else (web.config is never synced)
    admits = peer_grants.write_admits(included)
    assert admits("site.config") and admits("App_Config/site.config")
    assert not admits("default.aspx") and not admits("web.config")


@pytest.mark.django_db
def test_requests_naming_no_relationship_or_a_removed_one_are_refused():
    from relationships import peer_grants

    staging = a_peer()
    grant = announce(staging, 7, ("Up", ["templates"], "upload"))
    assert peer_grants.grant_of(staging, "7") == grant
    for named in (None, "", "seven", "²", "-7", str(2**63)):
        with pytest.raises(peer_grants.NotAllowed, match="staging named no relationship"):
            peer_grants.grant_of(staging, named)
    with pytest.raises(peer_grants.NotAllowed, match="holds no relationship 8 with this"):
        peer_grants.grant_of(staging, "8")
    # when staging deletes the relationship, then a request naming it is refused
    assert peer_grants.remove(staging, 7)
    with pytest.raises(peer_grants.NotAllowed, match="holds no relationship 7 with this "
                                                     r"instance \(it was deleted"):
        peer_grants.grant_of(staging, "7")
    # and another peer cannot name staging's relationship
    announce(staging, 9, ("Up", ["templates"], "upload"))
    with pytest.raises(peer_grants.NotAllowed, match="holds no relationship 9"):
        peer_grants.grant_of(a_peer("development"), "9")


@pytest.mark.django_db
def test_a_write_belongs_to_a_run_in_progress():
    import datetime as dt

    from django.utils import timezone

    from relationships import peer_grants

    staging = a_peer()
    announced = {"relationship": 1, "initial_direction": "upload", "profiles": []}
    grant = peer_grants.announce(staging, announced)
    refusal = "this write belongs to no run of staging in progress here"
    # given no run was announced, then a write is refused, whatever run it names
    for named in (None, "", "1", "²", "x"):
        with pytest.raises(peer_grants.NotAllowed, match=refusal):
            peer_grants.run_in_progress(grant, named)
    # when staging announces run 5, then writes of run 5 are accepted, of run 6 not
    peer_grants.announce(staging, {**announced, "run": {
        "id": 5, "kind": "FileSync", "stamp": "20261125-120000-run5"}})
    assert peer_grants.run_in_progress(grant, "5").remote_run_id == 5
    with pytest.raises(peer_grants.NotAllowed, match=refusal):
        peer_grants.run_in_progress(grant, "6")
    # and a run that never says it ended lapses after a day
    with pytest.raises(peer_grants.NotAllowed, match=refusal):
        peer_grants.run_in_progress(grant, "5", now=timezone.now() + dt.timedelta(hours=25))
    # when run 5 ends, then its writes are refused
    assert peer_grants.end_run(grant, 5)
    with pytest.raises(peer_grants.NotAllowed, match=refusal):
        peer_grants.run_in_progress(grant, "5")
    # and a run's stamp must be one, with nothing after it
    with pytest.raises(peer_grants.AnnouncementRefused, match="stamp is yyyymmdd"):
        peer_grants.announce(staging, {**announced, "run": {
            "id": 6, "kind": "FileSync", "stamp": "20261125-120000-run6\n"}})


def esync_here(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    """`esync ARGV` in this process, on the test database: the command's own parser and
    handler (its instance is the one the tests set up)."""
    from esync_site.cli import build_parser
    from relationships import commands

    monkeypatch.setattr(commands, "setup_instance", lambda args: None)
    args = build_parser().parse_args(list(argv))
    code = args.handler(args)
    return code, capsys.readouterr().out


@pytest.mark.django_db
def test_the_command_line_lists_peers_and_narrows_a_relationship(monkeypatch, capsys):
    from esync_site.refusal import Refusal

    # given staging announced a relationship moving the database and templates up
    grant = announce(a_peer(), 3, ("Site up", ["database", "templates"], "upload"),
                     ("Pull", ["bin"], "download"))
    # when the administrator lists the peers, then the relationship is there with its id
    code, out = esync_here(monkeypatch, capsys, "relationship", "peers", "--json")
    (listed,) = json.loads(out)
    assert code == 0
    assert (listed["id"], listed["peer"], listed["remote_relationship_id"]) == (
        grant.id, "staging", 3)
    assert [(p["name"], p["items"], p["direction"], p["writes_here"])
            for p in listed["profiles"]] == [
        ("Pull", ["bin"], "download", []),
        ("Site up", ["database", "templates"], "upload", ["database", "templates"])]
    assert listed["may_write"] == ["database", "templates"]
    assert listed["accept_privileged_changes"] is False
    code, out = esync_here(monkeypatch, capsys, "relationship", "peers")
    assert f"{grant.id:>3}  staging's relationship 3" in out
    assert "staging may now write database and templates here; privileged-account changes " \
           "are held for review." in out
    assert f"At most: database, workarea, templates, bin (esync relationship narrow " \
           f"{grant.id} --items ...)" in out

    # when they narrow it to templates, then only templates is left, privileged unchanged
    code, out = esync_here(monkeypatch, capsys, "relationship", "narrow", str(grant.id),
                           "--items", "templates")
    assert (code, out) == (0, "staging may now write templates here.\nAt most: templates.\n")
    grant.refresh_from_db()
    assert (grant.writable_items, grant.accept_privileged_changes) == (["templates"], False)
    # when they accept privileged changes only, then the items stay as they are
    esync_here(monkeypatch, capsys, "relationship", "narrow", str(grant.id),
               "--items", "database,templates", "--accept-privileged")
    esync_here(monkeypatch, capsys, "relationship", "narrow", str(grant.id),
               "--hold-privileged")
    grant.refresh_from_db()
    assert (grant.writable_items, grant.accept_privileged_changes) == (
        ["database", "templates"], False)
    # and an unknown relationship is refused with a sentence
    with pytest.raises(Refusal, match="No peer relationship '99' here; see `esync "
                                      "relationship peers`."):
        esync_here(monkeypatch, capsys, "relationship", "narrow", "99", "--items", "none")
