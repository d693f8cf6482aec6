"""The manual's "Running a Sync" with two real instances: only what changed moves."""

import pytest

from tests.db_sync_helpers import (
    EDIT_CONTENT,
    FIRST_CONTENT,
    HAS_USER,
    LAST_RUN,
    SIGN_UP_MEMBER,
    TITLE_OF,
    run_python,
    staged_pair,
)
from tests.sync_helpers import contents

HISTORY_TITLES = """
from cms.models import ContentHistory
result = list(ContentHistory.objects.filter(content_id={id}).values_list("title", flat=True))
"""

pytestmark = pytest.mark.slow


def test_bidirectional_run_moves_an_edit_on_staging_and_a_sign_up_on_production(
        real_instances, tmp_path):
    # SQLite here; a bidirectional run between PostgreSQL instances is in
    # test_db_sync_conflicts (remote-wins).
    with staged_pair(real_instances, tmp_path) as pair:
        content_id = run_python(pair.staging, FIRST_CONTENT)
        run_python(pair.staging, EDIT_CONTENT.format(id=content_id, title="Edited on staging"))
        run_python(pair.production, SIGN_UP_MEMBER.format(username="newcomer"))
        profile = pair.add_profile("Both ways", "bidirectional")

        result = pair.sync(profile)

        assert "Success" in result.stdout, result.stdout
        run = run_python(pair.staging, LAST_RUN)
        assert (run["status"], run["applied"], run["skipped"]) == ("success", 2, 0)
        assert run_python(pair.production, TITLE_OF.format(id=content_id)) == \
            "Edited on staging"
        assert run_python(pair.staging, HAS_USER.format(username="newcomer")) == ["newcomer"]
        assert contents(pair.staging) == contents(pair.production)

        # Nothing changed since: the next run moves nothing, and nothing echoes back.
        pair.sync(profile)
        assert run_python(pair.staging, LAST_RUN)["total"] == 0


def test_upload_overwrites_the_remote_and_download_brings_the_remote_back(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        content_id = run_python(pair.staging, FIRST_CONTENT)
        run_python(pair.production, EDIT_CONTENT.format(id=content_id, title="Production's"))
        run_python(pair.staging, EDIT_CONTENT.format(id=content_id, title="Staging's"))
        pair.add_profile("Up", "upload")
        pair.add_profile("Down", "download")

        pair.sync("Up")
        assert run_python(pair.production, TITLE_OF.format(id=content_id)) == "Staging's"
        # Production's version is not lost: it is in the item's history on staging, and
        # that history version goes up with the next run.
        assert "Production's" in run_python(pair.staging, HISTORY_TITLES.format(id=content_id))
        pair.sync("Up")
        assert "Production's" in run_python(pair.production,
                                            HISTORY_TITLES.format(id=content_id))

        run_python(pair.production, EDIT_CONTENT.format(id=content_id, title="Fixed live"))
        pair.sync("Down")
        assert run_python(pair.staging, TITLE_OF.format(id=content_id)) == "Fixed live"
        # The download does not send staging's own changes, and production's edit that
        # came down is not sent back up as staging's.
        pair.sync("Up")
        assert run_python(pair.staging, LAST_RUN)["total"] == 0
        assert contents(pair.staging) == contents(pair.production)
