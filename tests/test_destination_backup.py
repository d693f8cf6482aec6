"""Backing up the destination before an initial sync, and restoring it (SQLite and PostgreSQL)."""

import pytest

from tests.sync_helpers import contents, create_relationship, seed, trust_both_ways

pytestmark = pytest.mark.slow

BACKUP_THEN_RESTORE = """
from syncengine import backup
from cms.folders import create_folder
from cms.models import Folder
saved = backup.backup_database()
create_folder(None, "Made after the backup")
backup.restore_database(saved)
print(saved.name, Folder.objects.filter(name="Made after the backup").count())
"""


def test_a_backup_restores_the_database_as_it_was(real_instances, backend):
    production = real_instances("production", backend=backend)
    seed(production)
    before = contents(production)
    name, left = production.python(BACKUP_THEN_RESTORE).split()
    assert name.endswith(".esync.bak") and len(name) > len("x20261125000000000.esync.bak")
    assert left == "0"
    assert contents(production) == before


def test_with_backup_on_initial_the_destination_is_backed_up_first(real_instances, tmp_path):
    staging, production = real_instances("staging"), real_instances("production")
    seed(staging)
    config = production.home / "esync.toml"
    config.write_text(config.read_text().replace('mode = "none"', 'mode = "initial"'))
    trust_both_ways(staging, production, tmp_path)
    with production.sync_serving(), staging.serving():
        relationship = create_relationship(staging, production, "upload")
        staging.esync("initial-sync", str(relationship), "--wait")
    backups = list((production.home / "backups").glob("esync*.esync.bak"))
    assert len(backups) == 1
    assert oct(backups[0].stat().st_mode)[-3:] == "600"
    assert contents(production) == contents(staging)
