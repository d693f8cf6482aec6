"""What a peer sends in an initial copy is untrusted: unknown tables, columns, paths refused,
and a refused stream changes nothing."""

import io
import json
import tarfile

import pytest

from cms.models import Content, Folder
from syncengine import resource_files, table_copy
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def lines(*items) -> list[bytes]:
    return [json.dumps(item).encode() + b"\n" for item in items]


@pytest.mark.parametrize("stream, message", [
    (lines({"table": "auth_user_secrets", "columns": ["id"]}, [1]), "unknown table"),
    (lines({"table": "cms_folder", "columns": ["id", "is_superuser"]}, [1, True]),
     "unknown columns"),
    (lines({"table": "cms_folder", "columns": ["id", "name"]}, [1]), "does not match"),
    ([b"{not json"], "not JSON"),
    (lines([1, "x"]), "does not match"),
])
def test_a_bad_stream_is_refused_and_changes_nothing(stream, message):
    page = factories.content()
    with pytest.raises(table_copy.StreamRejected, match=message):
        table_copy.import_stream(stream)
    assert list(Content.objects.values_list("id", flat=True)) == [page.id]
    assert Folder.objects.count() == 1


def test_the_stream_round_trips_every_synced_row_exactly():
    page = factories.content()
    exported_as = (page.id, page.title, page.edited_at, page.folder_id)
    exported = list(table_copy.export_lines())
    page.title = "changed after the export"
    page.save()
    applied = table_copy.import_stream(exported)
    copy = Content.objects.get()
    assert (copy.id, copy.title, copy.edited_at, copy.folder_id) == exported_as
    assert copy.edited_at.microsecond == exported_as[2].microsecond  # not rounded
    assert applied == len([line for line in exported if line.startswith(b"[")])


def tar_with(name: str, data: bytes = b"x", kind=tarfile.REGTYPE, link: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo(name)
        regular = kind == tarfile.REGTYPE
        member.type, member.size, member.linkname = kind, len(data) if regular else 0, link
        archive.addfile(member, io.BytesIO(data) if regular else None)
    return buffer.getvalue()


@pytest.mark.parametrize("archive", [
    tar_with("uploadedimages/logo.png"),
    tar_with("uploadedimages/link", kind=tarfile.SYMTYPE, link="/etc/passwd"),
])
def test_a_tar_archive_is_never_extracted_as_resource_files(archive, settings):
    """The resource folders travel as a checked file stream (test_initial_sync_resource_stream
    covers its refusals); a tar, even a harmless one, is refused as not that stream."""
    with pytest.raises(resource_files.ResourceStreamRejected):
        resource_files.stage([archive])
    assert not list((settings.ESYNC.state_dir / "incoming").glob("*"))
    assert not (settings.SITE_ROOT / "uploadedimages" / "link").exists()


SCHEMA = """
SELECT 'index', indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'cms_%%'
UNION ALL
SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid::regclass::text LIKE 'cms_%%'
ORDER BY 1, 2
"""


def schema() -> list:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(SCHEMA)
        return cursor.fetchall()


def test_on_postgresql_indexes_and_constraints_come_back_after_a_load():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL pass of the suite runs this")
    factories.content()
    before = schema()
    assert any(kind == "constraint" and "FOREIGN KEY" in d for kind, _, d in before)
    table_copy.import_stream(list(table_copy.export_lines(pgcopy=True)))
    assert schema() == before
    dangling = lines({"table": "cms_content", "columns": ["id", "folder_id", "title"]},
                     [7, 999999, "points at no folder"])
    with pytest.raises(Exception, match="foreign key|violates"):
        table_copy.import_stream(dangling)
    assert schema() == before
    assert Content.objects.count() == 1


COPY_STREAM = (b'{"table":"cms_folder","columns":["id"],"format":"pgcopy"}\n'
               b"1\tback\\\\.\n2\t\\.x\n"  # escaped backslashes: no row is the end line
               b"\\.\n"
               b'{"table":"cms_tag","columns":["id"],"format":"pgcopy"}\n'
               b"\\.\n"
               b'{"table":"esync:user_groups","columns":["user_id","group"]}\n')


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, len(COPY_STREAM)])
def test_copy_format_rows_pass_through_whole_whatever_the_chunking(size):
    chunks = [COPY_STREAM[i:i + size] for i in range(0, len(COPY_STREAM), size)]
    reader = table_copy._StreamReader(chunks)
    seen, tables = [], []
    for line in reader.lines():
        tables.append(json.loads(line)["table"])
        if json.loads(line).get("format") == "pgcopy":
            data: list[bytes] = []
            rows = reader.copy_block(data.append, lambda rows: None)
            seen.append((rows, b"".join(data)))
    assert tables == ["cms_folder", "cms_tag", "esync:user_groups"]
    assert seen == [(2, b"1\tback\\\\.\n2\t\\.x\n"), (0, b"")]


def test_a_stream_cut_inside_a_copy_format_table_is_refused():
    reader = table_copy._StreamReader([COPY_STREAM[:70]])
    next(reader.lines())
    with pytest.raises(table_copy.StreamRejected, match="ended inside a table"):
        reader.copy_block(lambda data: None, lambda rows: None)
