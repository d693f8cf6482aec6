"""The manual's "Syncing Custom Database Tables": register a table on both servers, and its
rows travel with the database sync. A table without a primary key, or with an identity /
auto-increment column, is refused with the reason; so is one that is not there."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from tests.db_sync_helpers import LAST_RUN, run_python, staged_pair
from tests.services import require, require_postgres, scratch_postgres_database

ODBC_DRIVER = "PostgreSQL Unicode"


def require_odbc_driver() -> None:
    try:
        import pyodbc

        present = ODBC_DRIVER in pyodbc.drivers()
    except ImportError:
        present = False
    require(present, f"the {ODBC_DRIVER!r} ODBC driver (apt-get install unixodbc "
                     "odbc-postgresql)")


@contextmanager
def scratch_odbc_database() -> Iterator[tuple[str, str]]:
    """A new PostgreSQL database: (psycopg URL, ODBC connection string); dropped after."""
    require_postgres()
    require_odbc_driver()
    with scratch_postgres_database() as url:
        parts = urlsplit(url)
        yield url, (f"DRIVER={{{ODBC_DRIVER}}};SERVER={parts.hostname or '127.0.0.1'};"
                    f"PORT={parts.port or 5432};DATABASE={parts.path.lstrip('/')};"
                    f"UID={parts.username or 'postgres'};PWD={parts.password or ''};")


def sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def refusal_of(table: str, **options) -> str:
    from syncengine.custom_tables import CustomTableRefused, register

    with pytest.raises(CustomTableRefused) as refused:
        register(table, **options)
    return str(refused.value)


# -- refusals, in this process's database (SQLite, or PostgreSQL in the PostgreSQL pass) -----

INVALID_TABLES = {
    "sqlite": [
        "CREATE TABLE no_key (code varchar(10), name text)",
        "CREATE TABLE rowid_key (id INTEGER PRIMARY KEY, name text)",
        "CREATE TABLE counted (id integer PRIMARY KEY AUTOINCREMENT, name text)",
    ],
    "postgresql": [
        "CREATE TABLE no_key (code varchar(10), name text)",
        "CREATE TABLE rowid_key (id serial PRIMARY KEY, name text)",
        "CREATE TABLE counted (id bigint PRIMARY KEY, n integer GENERATED ALWAYS AS "
        "IDENTITY, name text)",
    ],
}


def create_site_tables(*statements: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.mark.django_db
def test_a_site_table_without_a_key_with_an_allocated_key_or_missing_is_refused():
    from django.db import connection

    create_site_tables(*INVALID_TABLES[connection.vendor])

    assert "has no primary key" in refusal_of("no_key")
    assert "identity/auto-increment column (id)" in refusal_of("rowid_key")
    assert "identity/auto-increment column" in refusal_of("counted")
    assert "There is no table 'not_there'" in refusal_of("not_there")
    assert "esync's own tables" in refusal_of("cms_content")
    create_site_tables("CREATE TABLE rates (day date NOT NULL, rate numeric(8,2), "
                       "PRIMARY KEY (day))")
    assert "neither integers nor text (day)" in refusal_of("rates")

    from syncengine.custom_table_models import CustomTable

    assert not CustomTable.objects.exists()


@pytest.mark.django_db
def test_a_registered_site_table_is_tracked_and_unregistering_drops_its_triggers():
    from django.db import connection

    from syncengine import change_log, custom_tables
    from syncengine.change_sets import specs_by_name, with_rows

    create_site_tables("CREATE TABLE price_list (sku varchar(40) NOT NULL, region integer "
                       "NOT NULL, label text, PRIMARY KEY (sku, region))")
    custom_tables.register("price_list")
    mark = change_log.high_water_mark()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO price_list VALUES ('A-1', 3, 'Crème')")

    spec = specs_by_name()["price_list"]
    assert (spec.pk, spec.columns) == (("sku", "region"), ("sku", "region", "label"))
    changes = with_rows(change_log.changes_between(mark, change_log.high_water_mark()))
    assert [(c.table, c.key, c.op, c.row) for c in changes] == [
        ("price_list", ("A-1", 3), "I", {"sku": "A-1", "region": 3, "label": "Crème"})]

    custom_tables.unregister("price_list")
    assert "price_list" not in change_log.installed_tables()
    assert "price_list" not in specs_by_name()


# -- refusals and tracking in an ODBC data source (PostgreSQL through the ODBC driver) --------

@pytest.mark.django_db
def test_an_odbc_table_without_a_key_with_identity_or_serial_or_missing_is_refused():
    with scratch_odbc_database() as (url, odbc):
        sql(url, "CREATE TABLE no_key (code varchar(10), name text)")
        sql(url, "CREATE TABLE serial_key (id serial PRIMARY KEY, name text)")
        sql(url, "CREATE TABLE identity_key (id bigint GENERATED BY DEFAULT AS IDENTITY "
                 "PRIMARY KEY, name text)")
        sql(url, "CREATE TABLE second_identity (id integer PRIMARY KEY, id2 bigint "
                 "GENERATED ALWAYS AS IDENTITY, company text)")

        def refused(table: str) -> str:
            return refusal_of(table, odbc=odbc, source="warehouse")

        assert "has no primary key" in refused("no_key")
        assert "identity/auto-increment column (id)" in refused("serial_key")
        assert "identity/auto-increment column (id)" in refused("identity_key")
        assert "identity/auto-increment column (id2)" in refused("second_identity")
        assert "There is no table 'not_there' in the data source 'warehouse'" in \
            refused("not_there")
        assert "needs --source" in refusal_of("no_key", odbc=odbc)
        assert sql(url, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal") == [(0,)]


STOCK = ("CREATE TABLE stock (sku text PRIMARY KEY, qty integer NOT NULL, "
         "price numeric(12,3), seen timestamptz, tags text[], extra jsonb, raw bytea)")
STOCK_ROW = ("Crème brûlée", 7, "12.500", "2024-05-06 07:08:09.123456+00",
             ["a", "b c"], json.dumps({"x": 1.25, "y": [1, "z"]}), b"\x00\xff")
INSERT_STOCK = "INSERT INTO stock VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)"


@pytest.mark.django_db
def test_an_odbc_tables_changes_are_read_and_applied_exactly():
    """In-process: a row written by raw SQL in one source is logged there, read with its
    values, and applied in another source stamped with its origin, every type intact."""
    from syncengine.custom_tables import register
    from syncengine.odbc_source import connect

    with scratch_odbc_database() as (here_url, here), \
            scratch_odbc_database() as (there_url, there):
        for url in (here_url, there_url):
            sql(url, STOCK)
        register("stock", odbc=here, source="warehouse")
        sql(here_url, INSERT_STOCK, STOCK_ROW)
        with connect(here, "warehouse") as source:
            shapes = source.shapes(["stock"])
            changes = source.changes(0, source.high_water_mark(), "", shapes)
        assert [(c.key, c.op) for c in changes] == [(("Crème brûlée",), "I")]

        with connect(there, "warehouse") as target:
            target.install_tracking(shapes["stock"])
            result = target.apply(changes, "peer-1", target.shapes(["stock"]))
        assert (result.applied, result.skipped) == (1, [])
        select = "SELECT * FROM stock ORDER BY sku"
        assert sql(there_url, select) == sql(here_url, select)
        assert sql(there_url, "SELECT table_name, row_key, op, origin FROM esync_change") == \
            [("stock", '["Crème brûlée"]', "I", "peer-1")]


@pytest.mark.django_db
def test_an_odbc_row_that_does_not_fit_its_column_is_skipped_with_its_reason_and_the_rest_applies():
    """In-process: a peer's batch for an ODBC table holds a row whose quantity is text; that
    row is refused before applying, with the reason, and the good row of the batch lands."""
    import dataclasses

    from syncengine.custom_tables import register
    from syncengine.odbc_source import connect

    with scratch_odbc_database() as (here_url, here), \
            scratch_odbc_database() as (there_url, there):
        for url in (here_url, there_url):
            sql(url, STOCK)
        register("stock", odbc=here, source="warehouse")
        sql(here_url, INSERT_STOCK, STOCK_ROW)
        with connect(here, "warehouse") as source:
            shapes = source.shapes(["stock"])
            good = source.changes(0, source.high_water_mark(), "", shapes)[0]
        bad = dataclasses.replace(good, key=("Tarte",), seq=good.seq + 1,
                                  row={**good.row, "sku": "Tarte", "qty": "a great many"})

        with connect(there, "warehouse") as target:
            result = target.apply([good, bad], "peer-1", target.shapes(["stock"]))
        assert result.applied == 1
        assert [(s.table, s.stage, s.key) for s in result.skipped] == \
            [("stock", "ApplyingInserts", 'Tarte')]
        assert "refused before applying" in result.skipped[0].error
        assert "qty" in result.skipped[0].error
        assert sql(there_url, "SELECT sku FROM stock") == [("Crème brûlée",)]


# -- two real instances -----------------------------------------------------------------------

PRICE_LIST = """
from django.db import connection
with connection.cursor() as c:
    c.execute("CREATE TABLE price_list (sku varchar(40) NOT NULL, region integer NOT NULL, "
              "price numeric(10,2), label text, PRIMARY KEY (sku, region))")
result = True
"""

RAW_SQL = """
from django.db import connection
with connection.cursor() as c:
    for statement in {statements!r}:
        c.execute(statement)
result = True
"""

PRICES = """
from django.db import connection
with connection.cursor() as c:
    c.execute("SELECT sku, region, CAST(price AS text), label FROM price_list "
              "ORDER BY sku, region")
    result = [list(r) for r in c.fetchall()]
"""


@pytest.mark.slow
def test_a_site_custom_table_registered_on_both_servers_is_uploaded(
        real_instances, tmp_path):
    # SQLite (suite time); the ODBC test below tracks and applies on PostgreSQL.
    with staged_pair(real_instances, tmp_path) as pair:
        for instance in (pair.staging, pair.production):
            run_python(instance, PRICE_LIST)
            instance.esync("tables", "register", "price_list")
        run_python(pair.staging, RAW_SQL.format(statements=[
            "INSERT INTO price_list VALUES ('A-1', 1, 12.50, 'Crème')",
            "INSERT INTO price_list VALUES ('A-1', 2, 13.00, 'Brûlée')",
            "INSERT INTO price_list VALUES ('B-7', 1, 1.25, 'plain')"]))
        pair.add_profile("Up", "upload")

        pair.sync("Up")

        run = run_python(pair.staging, LAST_RUN)
        assert (run["status"], run["applied"], run["skipped"]) == ("success", 3, 0), run
        staged = run_python(pair.staging, PRICES)
        assert [r[3] for r in staged] == ["Crème", "Brûlée", "plain"]
        assert run_python(pair.production, PRICES) == staged

        run_python(pair.staging, RAW_SQL.format(statements=[
            "UPDATE price_list SET label = 'Crème fraîche' WHERE sku = 'A-1' AND region = 1",
            "DELETE FROM price_list WHERE sku = 'B-7'"]))
        pair.sync("Up")
        assert [r[3] for r in run_python(pair.production, PRICES)] == \
            ["Crème fraîche", "Brûlée"]
        pair.sync("Up")
        assert run_python(pair.staging, LAST_RUN)["total"] == 0


@pytest.mark.slow
def test_an_odbc_custom_table_on_both_servers_is_synced(real_instances, tmp_path):
    with scratch_odbc_database() as (staging_url, staging_odbc), \
            scratch_odbc_database() as (production_url, production_odbc), \
            staged_pair(real_instances, tmp_path) as pair:
        source = f"warehouse-{uuid.uuid4().hex[:6]}"
        for url in (staging_url, production_url):
            sql(url, STOCK)
        pair.staging.esync("tables", "register", "stock", "--odbc", staging_odbc,
                           "--source", source)
        pair.production.esync("tables", "register", "stock", "--odbc", production_odbc,
                              "--source", source)
        listed = json.loads(pair.staging.esync("tables", "list", "--json").stdout)
        assert [(t["table"], t["source"]) for t in listed] == [("stock", source)]
        assert "PWD=***" in listed[0]["connection"]
        sql(staging_url, INSERT_STOCK, STOCK_ROW)
        pair.add_profile("Up", "upload")

        pair.sync("Up")

        run = run_python(pair.staging, LAST_RUN)
        assert (run["status"], run["applied"], run["skipped"]) == ("success", 1, 0), run
        select = "SELECT * FROM stock ORDER BY sku"
        assert sql(production_url, select) == sql(staging_url, select)
        staging_id = pair.staging.info()["server_id"]
        assert sql(production_url, "SELECT origin FROM esync_change") == [(staging_id,)]

        # Both ways: a row added on production comes down; nothing echoes back.
        sql(production_url, INSERT_STOCK, ("Zebra", 1, None, None, None, None, None))
        pair.add_profile("Both", "bidirectional")
        pair.sync("Both")
        assert sql(staging_url, select) == sql(production_url, select)
        assert len(sql(staging_url, select)) == 2
        pair.sync("Both")
        assert run_python(pair.staging, LAST_RUN)["total"] == 0

        pair.staging.esync("tables", "unregister", "stock")
        assert sql(staging_url, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal") \
            == [(0,)]
