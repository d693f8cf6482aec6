"""Loaded with `-p` before Django is configured: give the test process an instance home.

In-process tests run against this home's settings (pytest-django then creates its own test
database, on SQLite or on PostgreSQL when DATABASE_URL is set). Tests that need real,
separate instances start them with the `real_instances` fixture instead.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from esync_site.instance import InstanceConfig
from esync_site.instance_setup import create_home_files

# One home per test process: with pytest-xdist each worker gets its own (the controller's
# environment, home included, is inherited by the workers).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
if os.environ.get("ESYNC_TEST_HOME_READY") != WORKER:
    home = Path(tempfile.mkdtemp(prefix="esync-test-home-"))
    # The same folders as `esync init` (site root, broker, state); the database is
    # pytest-django's test database.
    create_home_files(InstanceConfig(home=home, name="testing"))
    os.environ["ESYNC_HOME"] = str(home)
    os.environ["ESYNC_TEST_HOME_READY"] = WORKER
    atexit.register(shutil.rmtree, home, ignore_errors=True)
