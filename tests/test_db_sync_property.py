"""Property: whatever the editors do on both servers between two syncs, a bidirectional run
leaves both with the same site, and a row changed on both sides holds the policy's winner.

Design: the planner and applier work on Django's one `connection`, so two instances cannot
share a test process; an in-process model would test a copy of the engine's wiring rather
than the engine. So this drives two real instances (one staged pair for every example, each
example starting from where the previous one left both servers — equal) with a few examples.
Hypothesis draws edit sequences (create/edit/delete content, create folders under the same
parents on both sides so names can collide, delete folders made in the same example) and the
policy; it shrinks a failure to the shortest sequence that shows it.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.db_sync_helpers import LAST_RUN, run_python, staged_pair
from tests.sync_helpers import contents

pytestmark = pytest.mark.slow

SIDES = ("staging", "production")
NAMES = ("News", "Events", "Press")
TITLES = ("Alpha", "Beta", "Gamma")

# Runs the drawn operations on one server. Targets are picked by position among what exists
# there at that moment, so every drawn sequence means something whatever the state. Returns
# the final version (title, or None when deleted) of every content item it touched.
EDITS = """
import json
from django.db import transaction
from cms import content as editing
from cms.folders import FolderNameRefused, create_folder
from cms.models import Content, Folder
touched, made = {{}}, []
for op, a, b in json.loads({ops!r}):
    folders = list(Folder.objects.order_by("id"))
    items = list(Content.objects.order_by("id"))
    if op == "folder":
        parent = None if a % 4 == 0 else folders[a % len(folders)]
        try:
            made.append(create_folder(parent, b).id)
        except FolderNameRefused:
            pass
    elif op == "content":
        c = editing.create_content(folders[a % len(folders)], b, "<p>new</p>", None)
        touched[c.id] = c.title
    elif op == "edit" and items:
        c = items[a % len(items)]
        c.title, c.html = b, f"<p>{{b}}</p>"
        c.save()
        touched[c.id] = b
    elif op == "delete" and items:
        c = items[a % len(items)]
        touched[c.id] = None
        c.delete()
    elif op == "unmake" and made:
        gone = made.pop(a % len(made))
        if not Content.objects.filter(folder_id=gone).exists() and \\
                not Folder.objects.filter(parent_id=gone).exists():
            Folder.objects.filter(id=gone).delete()
result = {{str(k): v for k, v in touched.items()}}
"""

TITLES_NOW = """
from cms.models import Content
result = {str(k): v for k, v in Content.objects.filter(id__in=%s).values_list("id", "title")}
"""

operation = st.one_of(
    st.tuples(st.just("folder"), st.integers(0, 20), st.sampled_from(NAMES)),
    st.tuples(st.just("content"), st.integers(0, 20), st.sampled_from(TITLES)),
    st.tuples(st.just("edit"), st.integers(0, 200), st.sampled_from(TITLES)),
    st.tuples(st.just("delete"), st.integers(0, 200), st.just("")),
    st.tuples(st.just("unmake"), st.integers(0, 5), st.just("")),
)
edits = st.lists(st.tuples(st.sampled_from(SIDES), operation), min_size=1, max_size=8)


def expected_titles(touched: dict[str, dict], policy: str) -> dict[str, str | None]:
    """What each touched item must be on both servers: the only version, or the winner's."""
    winner, loser = (("staging", "production") if policy == "local-wins"
                     else ("production", "staging"))
    expected = dict(touched[loser])
    expected.update(touched[winner])
    return expected


def test_random_edits_on_both_servers_end_equal_after_a_bidirectional_sync(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        servers = {"staging": pair.staging, "production": pair.production}
        for policy in ("local-wins", "remote-wins"):
            pair.add_profile(policy, "bidirectional", policy)

        @settings(max_examples=3, deadline=None, derandomize=False,
                  suppress_health_check=list(HealthCheck))
        @given(drawn=edits, policy=st.sampled_from(("local-wins", "remote-wins")))
        def example(drawn, policy):
            touched = {}
            for side in SIDES:
                ops = [list(op) for who, op in drawn if who == side]
                touched[side] = run_python(servers[side], EDITS.format(ops=json.dumps(ops)))

            pair.sync(policy)
            run = run_python(pair.staging, LAST_RUN)
            assert run["status"] == "success", run
            # The losing versions' history entries travel with the next run.
            pair.sync(policy)

            assert contents(pair.staging) == contents(pair.production)
            expected = expected_titles(touched, policy)
            ids = [int(i) for i in expected]
            for server in servers.values():
                now = run_python(server, TITLES_NOW % ids)
                assert {i: now.get(i) for i in expected} == expected, (server.name, drawn)

        example()
