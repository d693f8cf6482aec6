"""A peer's rows are checked against their columns before they are applied (the README's
"What a peer's rows must be"): a row no column here should hold is skipped with its reason,
and the rest of its batch applies. A malformed change set is refused with a sentence.

Rows "from production" take keys from server 2's ID range, as a real peer's would; this
server is server 1 (keys 1..10^12).
"""

import itertools
import json

import pytest
from django.utils import timezone

from cms.models import Content, Folder, User
from relationships.id_ranges import current_multiplier, range_for
from syncengine.apply_changes import INSERTS, UPDATES, apply_changes
from syncengine.change_sets import (
    Change,
    ChangeSetRejected,
    fetch_rows,
    from_lines,
    specs_by_name,
    to_lines,
)
from syncengine.db_sync import LOCAL, record_skips
from syncengine.models import SkippedRow, SyncRun
from syncengine.row_checks import check_row
from syncengine.table_copy import _StreamReader, split_lines
from tests import factories
from tests.sync_helpers import ANNOUNCED_CLIENT, trust_both_ways

PRODUCTION = "production-server-id"
REMOTE_IDS = itertools.count(2 * 10**12 + 1)


def row_of(obj, **changes) -> dict:
    spec = specs_by_name()[obj._meta.db_table]
    row = fetch_rows(spec, [(obj.pk,)])[(obj.pk,)]
    row.update(changes)
    return row


def upsert(table: str, row: dict, op: str = "I") -> Change:
    return Change(table, (row["id"],), op, 0, row)


def over_the_wire(changes: list[Change]) -> list[Change]:
    _, copy = from_lines(b"".join(to_lines(0, changes)).splitlines())
    return copy


def new_folder(template: Folder, name: str, **changes) -> dict:
    moment = timezone.now().isoformat()
    return row_of(template, **{"id": next(REMOTE_IDS), "name": name, "parent_id": None,
                               "created_at": moment, "updated_at": moment, **changes})


def skip_for(result, key) -> str:
    found = [s for s in result.skipped if s.key == str(key)]
    assert len(found) == 1, (key, result.skipped)
    return found[0].error


@pytest.mark.django_db
def test_each_bad_row_is_skipped_with_its_reason_and_the_rest_of_the_batch_applies():
    template = factories.folder("Template")
    user = factories.user("template-user")
    first, last = range_for(current_multiplier())
    ours_next = factories.folder("Newest of ours").id  # the allocator's last key
    good = new_folder(template, "Arrives")
    good_page = row_of(factories.content(template), id=next(REMOTE_IDS),
                       folder_id=good["id"], title="Arrives too")
    yes_user = row_of(user, id=next(REMOTE_IDS), username="yes-man", is_active="yes")
    long_name = new_folder(template, "n" * 100_000)
    huge_language = row_of(factories.content(template), id=next(REMOTE_IDS),
                           folder_id=template.id, language=2**64)
    huge_key = new_folder(template, "Past 64 bits", id=2**64)
    negative = new_folder(template, "Negative", id=-5)
    inside_ours = new_folder(template, "Squatter", id=ours_next + 1000)
    assert first <= inside_ours["id"] <= last

    result = apply_changes(over_the_wire([
        upsert("cms_folder", good), upsert("cms_content", good_page),
        upsert("cms_user", yes_user), upsert("cms_folder", long_name),
        upsert("cms_content", huge_language), upsert("cms_folder", huge_key),
        upsert("cms_folder", negative), upsert("cms_folder", inside_ours)]), PRODUCTION)

    assert result.applied == 2
    assert Folder.objects.get(id=good["id"]).name == "Arrives"
    assert Content.objects.get(id=good_page["id"]).folder_id == good["id"]
    assert "is_active 'yes' is not true or false" in skip_for(result, yes_user["id"])
    assert "name is 100,000 characters long, more than its 200" in \
        skip_for(result, long_name["id"])
    assert "language 18446744073709551616 is outside 0..2,147,483,647" in \
        skip_for(result, huge_language["id"])
    assert "key 18446744073709551616 is outside 1..9,223,372,036,854,775,807" in \
        skip_for(result, 2**64)
    assert "key -5 is outside 1.." in skip_for(result, -5)
    assert f"key {inside_ours['id']:,} lies in this server's own ID range" in \
        skip_for(result, inside_ours["id"])
    assert {s.stage for s in result.skipped} == {INSERTS}
    assert not User.objects.filter(username="yes-man").exists()
    assert not Folder.objects.filter(name__in=["Past 64 bits", "Negative", "Squatter"]).exists()
    assert not Folder.objects.filter(name__startswith="nnnn").exists()

    run = SyncRun.objects.create(kind=SyncRun.Kind.values[0], direction="download")
    record_skips(run, result, LOCAL)
    logged = {r.remote_key: r.error for r in SkippedRow.objects.filter(run=run)}
    assert set(logged) == {str(yes_user["id"]), str(long_name["id"]), str(huge_language["id"]),
                           str(2**64), "-5", str(inside_ours["id"])}


@pytest.mark.django_db
def test_rows_of_our_own_range_already_here_or_handed_out_before_still_apply():
    mine = factories.folder("Mine")
    gone = factories.folder("Deleted here since")
    gone_row = row_of(gone)
    gone.delete()

    result = apply_changes(over_the_wire([
        upsert("cms_folder", row_of(mine, description="edited there"), "U"),
        upsert("cms_folder", gone_row, "U")]), PRODUCTION)

    assert (result.applied, result.skipped) == (2, [])
    assert Folder.objects.get(id=mine.id).description == "edited there"
    assert Folder.objects.filter(id=gone_row["id"]).exists()


@pytest.mark.django_db
def test_a_bad_update_is_reported_as_an_update_and_leaves_the_row_as_it_was():
    mine = factories.folder("Kept")
    page = factories.content(mine, title="Checked in")

    result = apply_changes(over_the_wire([
        upsert("cms_content", row_of(page, status="Z", edited_at="yesterday"), "U"),
        upsert("cms_folder", row_of(mine, description="fine"), "U")]), PRODUCTION)

    assert result.applied == 1
    (skip,) = result.skipped
    assert skip.stage == UPDATES
    assert "status 'Z' is not one of" in skip.error
    assert "edited_at 'yesterday' is not a valid datetime" in skip.error
    assert Content.objects.get(id=page.id).status == page.status
    assert Folder.objects.get(id=mine.id).description == "fine"


@pytest.mark.django_db
def test_a_valid_batch_applies_whole():
    template = factories.folder("Template")
    parent = new_folder(template, "Parent")
    child = new_folder(template, "Child", parent_id=parent["id"])

    result = apply_changes(over_the_wire([upsert("cms_folder", child),
                                          upsert("cms_folder", parent)]), PRODUCTION)

    assert (result.applied, result.skipped) == (2, [])
    assert Folder.objects.get(id=child["id"]).parent_id == parent["id"]


@pytest.mark.django_db
def test_check_row_names_every_column_a_row_gets_wrong():
    folder = factories.folder("Template")
    row = row_of(folder, parent_id="abc", description=None, created_at=[1], name="a\x00b")

    reasons = check_row(Folder, row)

    assert "parent_id 'abc' is not a whole number" in reasons
    assert "description is empty, and the column does not allow that" in reasons
    assert "created_at [1] is not a datetime value" in reasons
    assert "name contains a NUL character" in reasons
    assert check_row(Folder, row_of(folder)) == []


@pytest.mark.django_db
def test_a_user_row_carries_its_memberships_as_lists_of_names():
    user = factories.user("member")
    row = row_of(user, **{"esync:groups": "Administrators", "esync:permissions": [["x"]]})

    reasons = check_row(User, row)

    assert any(r.startswith("esync:groups is not a list") for r in reasons)
    assert any(r.startswith("esync:permissions is not a list") for r in reasons)


MARK = json.dumps({"mark": 0}).encode()


@pytest.mark.django_db
@pytest.mark.parametrize(("line", "says"), [
    (b'{"t": ["cms_folder"], "k": [1], "op": "D", "row": null}', "does not name its table"),
    (b'{"t": "cms_folder", "k": [{"id": 1}], "op": "D", "row": null}', "malformed change"),
    (b'{"t": "cms_folder", "k": [1.5], "op": "D", "row": null}', "malformed change"),
    (b'{"t": "cms_folder", "k": [true], "op": "D", "row": null}', "malformed change"),
    (b'{"t": "cms_folder", "k": [1], "op": ["D"], "row": null}', "malformed change"),
    (b'{"t": "cms_folder", "k": [1], "op": "D", "row": null, "seq": "x"}', "seq"),
    (b'{"t": "cms_folder", "k": [1], "op": "D", "row": null, "seq": 99999999999999999999}',
     "seq"),
    (b'{"t": "cms_folder", "k": [1], "op": "U"}', "without its row"),
    (b'{"t": "cms_folder", "k": [1], "op": "D", "row": []}', "unknown or missing columns"),
    (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    (b'{"t": "cms_folder", "k": [1' + b"0" * 5000 + b'], "op": "D"}', "is not JSON"),
    (b"\xff\xfe", "is not JSON"),
])
def test_a_malformed_line_refuses_the_change_set_with_a_sentence(line, says):
    with pytest.raises(ChangeSetRejected, match=says):
        from_lines([MARK, line])


@pytest.mark.django_db
@pytest.mark.parametrize("mark", [b'{"mark": 18446744073709551616}', b'{"mark": -1}',
                                  b'{"mark": true}', b'{"mark": "0"}', b"[1]"])
def test_a_change_set_must_start_with_a_64_bit_mark(mark):
    with pytest.raises(ChangeSetRejected, match="does not start with its mark"):
        from_lines([mark])


@pytest.mark.django_db
def test_a_delete_that_carries_a_row_is_malformed():
    folder = factories.folder("Template")
    line = json.dumps({"t": "cms_folder", "k": [folder.id], "op": "D",
                       "row": row_of(folder)}).encode()
    with pytest.raises(ChangeSetRejected, match="delete that carries a row"):
        from_lines([MARK, line])


@pytest.mark.django_db
def test_a_custom_site_table_is_checked_against_its_declared_columns():
    from django.db import connection

    from syncengine import custom_tables

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE gadgets (code varchar(20) PRIMARY KEY, "
                       "enabled boolean NOT NULL, label varchar(10), amount bigint)")
    custom_tables.register("gadgets")
    fine = {"code": "g1", "enabled": True, "label": "short", "amount": 5}
    rows = [fine,
            {"code": "g2", "enabled": "yes", "label": "short", "amount": 5},
            {"code": "g3", "enabled": False, "label": "short", "amount": 2**64},
            {"code": "x" * 2000, "enabled": False, "label": "short", "amount": 1}]

    result = apply_changes([Change("gadgets", (r["code"],), "I", 0, r) for r in rows],
                           PRODUCTION)

    assert result.applied == 1
    assert "enabled 'yes' is not true or false" in skip_for(result, "g2")
    assert "amount 18446744073709551616 does not fit in" in skip_for(result, "g3")
    assert "is not a usable text key" in result.skipped[-1].error
    with connection.cursor() as cursor:
        cursor.execute("SELECT code FROM gadgets")
        assert cursor.fetchall() == [("g1",)]


# -- the line reader --------------------------------------------------------------------------

def chunked(data: bytes, size: int):
    return (data[i:i + size] for i in range(0, len(data), size))


def test_split_lines_reads_a_64_mb_single_line():
    line = b"x" * (64 * 1024 * 1024)

    lines = list(split_lines(chunked(line + b"\nlast", 64 * 1024)))

    assert [len(x) for x in lines] == [len(line), 4]
    assert lines[0] == line and lines[1] == b"last"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 4096])
def test_split_lines_gives_the_same_lines_whatever_the_chunks(size):
    data = b"\n".join([b"", b"a", b"bb", b"", b"c" * 5000, b"dd\n", b"e"]) + b"\n\nlast"

    assert list(split_lines(chunked(data, size))) == [x for x in data.split(b"\n") if x]


@pytest.mark.parametrize("size", [1, 5, 1000, 1 << 20])
def test_a_copy_block_with_a_long_row_is_passed_on_whole(size):
    long_row = b"1\t" + b"y" * 3_000_000 + b"\n"
    data = b'{"table": "t"}\n' + b"2\tshort\n" + long_row + b"\\.\n" + b'{"next": 1}\n'
    reader = _StreamReader(chunked(data, size))
    lines = reader.lines()
    written: list[bytes] = []

    assert next(lines) == b'{"table": "t"}'
    rows = reader.copy_block(written.append, lambda n: None)

    assert rows == 2 and b"".join(written) == b"2\tshort\n" + long_row
    assert list(lines) == [b'{"next": 1}']


# -- through a real peer ----------------------------------------------------------------------

SEND = ANNOUNCED_CLIENT + """
import json
from syncengine.peer_errors import PeerError
client = announced_client({port})
def folder(key, name, **more):
    row = dict(id=key, parent_id=None, name=name, description="",
               created_at="2026-01-01T00:00:00+00:00", updated_at="2026-01-01T00:00:00+00:00")
    row.update(more)
    return json.dumps(dict(t="cms_folder", k=[key], op="I", seq=1, row=row))
lines = [json.dumps({{"mark": 0}}),
         folder({foreign} + 7, "Sent in good order"),
         folder({foreign} + 8, "n" * 100_000),
         folder({foreign} + 9, "Bad date", created_at="never"),
         folder(2**64, "Past 64 bits"),
         folder(-3, "Negative"),
         folder({squatter}, "Squatter")]
body = ("\\n".join(lines) + "\\n").encode()
try:
    with client.open("POST", "/changes/apply", body=body,
                     headers={{"Content-Length": str(len(body))}}) as response:
        print(b"".join(response.body).decode())
except PeerError as error:
    print(json.dumps({{"error": str(error)}}))
"""

FOLDERS = """
import json
from cms.models import Folder
print(json.dumps(sorted(Folder.objects.values_list("name", flat=True))))
"""

OWN_RANGE = """
from relationships.id_ranges import current_multiplier, range_for
print(*range_for(current_multiplier()))
"""


@pytest.mark.slow
def test_a_peer_sending_bad_rows_gets_them_skipped_and_the_good_one_applied(
        real_instances, tmp_path):
    staging = real_instances("staging")
    production = real_instances("production")
    trust_both_ways(staging, production, tmp_path)
    before = json.loads(production.python(FOLDERS).strip().splitlines()[-1])
    first, last = map(int, production.python(OWN_RANGE).strip().splitlines()[-1].split())
    foreign, squatter = last, last - 5  # the next server's range; the top of production's

    with production.sync_serving():
        answer = json.loads(staging.python(SEND.format(
            port=production.sync_port, foreign=foreign, squatter=squatter))
            .strip().splitlines()[-1])

    assert "error" not in answer, answer
    assert answer["applied"] == 1
    reasons = {s["key"]: s["error"] for s in answer["skipped"]}
    assert set(reasons) == {str(foreign + 8), str(foreign + 9), str(2**64), "-3",
                            str(squatter)}
    assert "more than its 200" in reasons[str(foreign + 8)]
    assert "'never' is not a valid datetime" in reasons[str(foreign + 9)]
    assert "lies in this server's own ID range" in reasons[str(squatter)]
    after = json.loads(production.python(FOLDERS).strip().splitlines()[-1])
    assert after == sorted([*before, "Sent in good order"])
