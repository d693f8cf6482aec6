"""A chain of three servers, development → staging → production (the manual's Scenario 2 with
profiles): each relationship is run by the server nearer development, a change travels the
whole chain through staging, and nothing comes back to where it started.
"""

import pytest

from tests.db_sync_helpers import (
    EDIT_CONTENT,
    FIRST_CONTENT,
    HAS_USER,
    LAST_RUN,
    SIGN_UP_MEMBER,
    TITLE_OF,
    run_python,
)
from tests.sync_helpers import contents, create_relationship, seed, trust_both_ways

pytestmark = pytest.mark.slow


def test_a_change_on_development_reaches_production_through_staging_and_does_not_echo(
        real_instances, tmp_path):
    # On SQLite only, to keep the suite's time: PostgreSQL's side of the same machinery
    # (advisory-locked sequence, origin setting) is proven by the two-instance tests.
    development = real_instances("development")
    staging = real_instances("staging")
    production = real_instances("production")
    seed(development)
    trust_both_ways(development, staging, tmp_path)
    trust_both_ways(staging, production, tmp_path)
    with production.sync_serving(), staging.serving(), development.serving():
        # Development–staging lives on development, staging–production on staging.
        upstream = create_relationship(development, staging, "upload")
        development.esync("initial-sync", str(upstream), "--wait")
        downstream = create_relationship(staging, production, "upload")
        staging.esync("initial-sync", str(downstream), "--wait")
        for server, relationship in ((development, upstream), (staging, downstream)):
            server.esync("profile", "add", str(relationship), "--name", "Chain",
                         "--items", "database", "--direction", "bidirectional",
                         "--policy", "local-wins")
        content_id = run_python(development, FIRST_CONTENT)
        run_python(development, EDIT_CONTENT.format(id=content_id, title="Written on dev"))
        run_python(production, SIGN_UP_MEMBER.format(username="wanderer"))

        development.esync("sync", "Chain", "--wait")
        assert run_python(staging, TITLE_OF.format(id=content_id)) == "Written on dev"
        staging.esync("sync", "Chain", "--wait")

        assert run_python(production, TITLE_OF.format(id=content_id)) == "Written on dev"
        assert run_python(staging, HAS_USER.format(username="wanderer")) == ["wanderer"]
        assert run_python(staging, LAST_RUN)["applied"] == 2  # the edit down, the member up
        # The member signed up on production goes on to development on its next run.
        development.esync("sync", "Chain", "--wait")
        assert run_python(development, HAS_USER.format(username="wanderer")) == ["wanderer"]
        assert run_python(development, LAST_RUN)["applied"] == 1

        # Nothing echoes: every server already holds everything.
        for server in (development, staging, development, staging):
            server.esync("sync", "Chain", "--wait")
            assert run_python(server, LAST_RUN)["total"] == 0, server.name
        fingerprints = [contents(s) for s in (development, staging, production)]
        assert fingerprints[0] == fingerprints[1] == fingerprints[2]
