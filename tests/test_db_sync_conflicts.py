"""The manual's "Conflict Resolution Policy", "Reviewing Resolved Collisions" and "Sync Logs"
with two real instances: staging (which runs the profiles) and production.
"""

import pytest

from tests.db_sync_helpers import (
    EDIT_CONTENT,
    HAS_USER,
    LAST_RUN,
    SIGN_UP_MEMBER,
    TITLE_OF,
    run_python,
    staged_pair,
)
from tests.sync_helpers import contents

pytestmark = pytest.mark.slow

THREE_CONTENTS = """
from cms.models import Content
result = list(Content.objects.order_by("id").values_list("id", flat=True)[:3])
"""

DELETE_CONTENT = """
from cms.models import Content
Content.objects.filter(id={id}).delete()
result = {id}
"""

HISTORY_TITLES = """
from cms.models import ContentHistory
result = sorted(ContentHistory.objects.filter(content_id={id}).values_list("title", flat=True))
"""

CONFLICTS = """
from syncengine.models import ConflictRecord
result = [dict(table=c.table_name, key=c.row_key, winner=c.winner_side, policy=c.policy,
               loser=c.losing_version and c.losing_version.get("title"))
          for c in ConflictRecord.objects.order_by("id")]
"""

COLLISIONS = """
from syncengine.models import Collision
result = sorted([c.kind, c.original_name, c.modified_name, c.row_id]
                for c in Collision.objects.all())
"""

NEW_FOLDER = """
from cms.folders import create_folder
from cms.models import Folder
parent = Folder.objects.get(name={parent!r}) if {parent!r} else None
result = create_folder(parent, {name!r}).id
"""

FOLDER_NAMES = """
from cms.models import Folder
result = dict(Folder.objects.filter(id__in={ids!r}).values_list("id", "name"))
result = {{str(k): v for k, v in result.items()}}
"""

CONTENT_INTO = """
from cms import content
from cms.models import Folder
result = content.create_content(Folder.objects.get(name={folder!r}), {title!r}, "<p>x</p>",
                                None).id
"""

DELETE_FOLDER = """
from cms.models import Folder
Folder.objects.filter(name={name!r}).delete()
result = True
"""


@pytest.mark.parametrize(("policy", "backend"), [("local-wins", "sqlite"),
                                                 ("remote-wins", "postgres")])
def test_bidirectional_the_policy_decides_a_row_changed_on_both_servers(
        real_instances, tmp_path, policy, backend):
    with staged_pair(real_instances, tmp_path, backend) as pair:
        both, deleted_here, deleted_there = run_python(pair.staging, THREE_CONTENTS)
        # The same item edited on both servers since the last sync.
        run_python(pair.staging, EDIT_CONTENT.format(id=both, title="Staging's"))
        run_python(pair.production, EDIT_CONTENT.format(id=both, title="Production's"))
        # Deleted on staging while production edits it.
        run_python(pair.staging, DELETE_CONTENT.format(id=deleted_here))
        run_python(pair.production, EDIT_CONTENT.format(id=deleted_here, title="Kept live"))
        # Deleted on production only: the delete travels.
        run_python(pair.production, DELETE_CONTENT.format(id=deleted_there))
        profile = pair.add_profile("Both ways", "bidirectional", policy)

        pair.sync(profile)

        run = run_python(pair.staging, LAST_RUN)
        assert run["status"] == "success", run
        assert "2 rows changed on both sides" in run["message"]
        winner, loser = (("Staging's", "Production's") if policy == "local-wins"
                         else ("Production's", "Staging's"))
        for side in (pair.staging, pair.production):
            assert run_python(side, TITLE_OF.format(id=both)) == winner
            assert run_python(side, TITLE_OF.format(id=deleted_there)) is None
            # Delete against edit: local wins keeps the delete, remote wins the edit.
            assert run_python(side, TITLE_OF.format(id=deleted_here)) == \
                (None if policy == "local-wins" else "Kept live")
        side_won = "local" if policy == "local-wins" else "remote"
        recorded = {c["key"]: c for c in run_python(pair.staging, CONFLICTS)}
        assert recorded[str(both)] == dict(table="cms_content", key=str(both), winner=side_won,
                                           policy=policy, loser=loser)
        assert recorded[str(deleted_here)]["winner"] == side_won
        assert set(recorded) == {str(both), str(deleted_here)}
        # The losing version is in the item's history, here at once, on production with the
        # next run (that history version is a change made on staging).
        assert loser in run_python(pair.staging, HISTORY_TITLES.format(id=both))
        pair.sync(profile)
        assert loser in run_python(pair.production, HISTORY_TITLES.format(id=both))
        assert contents(pair.staging) == contents(pair.production)
        pair.sync(profile)
        assert run_python(pair.staging, LAST_RUN)["total"] == 0


@pytest.mark.parametrize("direction", ["download", "upload", "bidirectional"])
def test_a_folder_and_a_user_name_made_on_both_servers_are_renamed_and_recorded(
        real_instances, tmp_path, direction):
    with staged_pair(real_instances, tmp_path) as pair:
        # Staging's come first, so production's are the more recent ones.
        older = [run_python(pair.staging, NEW_FOLDER.format(parent="", name="Marketing")),
                 run_python(pair.staging, SIGN_UP_MEMBER.format(username="tom"))]
        newer = [run_python(pair.production, NEW_FOLDER.format(parent="", name="Marketing")),
                 run_python(pair.production, SIGN_UP_MEMBER.format(username="tom"))]
        profile = pair.add_profile("Names", direction)

        pair.sync(profile)

        # The more recently created one gets its id appended, wherever it lands.
        expected = {"folder": ("Marketing", f"Marketing{newer[0]}", newer[0]),
                    "user": ("tom", f"tom{newer[1]}", newer[1])}
        receivers = {"download": [pair.staging], "upload": [pair.production],
                     "bidirectional": [pair.staging, pair.production]}[direction]
        for side in receivers:
            assert run_python(side, FOLDER_NAMES.format(ids=[older[0], newer[0]])) == \
                {str(older[0]): "Marketing", str(newer[0]): f"Marketing{newer[0]}"}
            assert sorted(run_python(side, HAS_USER.format(username="tom"))) == \
                ["tom", f"tom{newer[1]}"]
        # The review screen's record is where the manual says: download → local, upload →
        # remote, both for bidirectional; once per renamed item.
        recorded = sorted([kind, *names] for kind, names in expected.items())
        for side in (pair.staging, pair.production):
            assert run_python(side, COLLISIONS) == (recorded if side in receivers else [])
        run = run_python(pair.staging, LAST_RUN)
        assert run["status"] == "success" and "2 name collisions renamed" in run["message"]

        if direction == "bidirectional":
            # Both renames are already on both sides: nothing more to move, no new record.
            pair.sync(profile)
            assert run_python(pair.staging, LAST_RUN)["total"] == 0
            assert contents(pair.staging) == contents(pair.production)
            assert run_python(pair.production, COLLISIONS) == recorded


def test_upload_skips_content_into_a_folder_production_deleted_and_applies_the_rest(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        pair.add_profile("Up", "upload")
        run_python(pair.staging, NEW_FOLDER.format(parent="", name="Campaigns"))
        pair.sync("Up")
        # Production removes the (empty) folder while staging adds an item into it.
        run_python(pair.production, DELETE_FOLDER.format(name="Campaigns"))
        orphan = run_python(pair.staging, CONTENT_INTO.format(folder="Campaigns",
                                                              title="Spring sale"))
        fine = run_python(pair.staging, NEW_FOLDER.format(parent="", name="Clearance"))

        result = pair.sync("Up", check=False)

        assert result.returncode == 0, result.stdout + result.stderr
        assert "Warning" in result.stdout, result.stdout
        run = run_python(pair.staging, LAST_RUN)
        assert run["status"] == "warning"
        assert run["skipped"] >= 1 and run["applied"] + run["skipped"] == run["total"]
        skipped = {(s["table"], s["stage"], s["local_key"], s["side"]) for s in run["skips"]}
        assert ("cms_content", "ApplyingInserts", str(orphan), "remote") in skipped
        assert all("FOREIGN KEY" in s["error"] and "cms_folder" in s["error"]
                   for s in run["skips"] if s["local_key"] == str(orphan))
        # The rest applied: the other new folder is there, the orphan is not.
        assert run_python(pair.production, FOLDER_NAMES.format(ids=[fine])) == \
            {str(fine): "Clearance"}
        assert run_python(pair.production, TITLE_OF.format(id=orphan)) is None
        log = pair.staging.esync("log", str(run_python(
            pair.staging, "from syncengine.models import SyncRun\n"
                          "result = SyncRun.objects.order_by('-id').first().id")))
        assert f"Applied:{run['applied']}" in log.stdout
        assert "Skipped Reasons:" in log.stdout and "cms_content" in log.stdout
