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

from esync_site.instance import InstanceConfig, render_config

if not os.environ.get("ESYNC_TEST_HOME_READY"):
    home = Path(tempfile.mkdtemp(prefix="esync-test-home-"))
    (home / "esync.toml").write_text(render_config(InstanceConfig(home=home, name="testing")))
    os.environ["ESYNC_HOME"] = str(home)
    os.environ["ESYNC_TEST_HOME_READY"] = "1"
    atexit.register(shutil.rmtree, home, ignore_errors=True)
