"""Two instances on one machine: each in its own ID range, sharing nothing."""

import json

import pytest

from tests.real_instances import child_environment  # noqa: F401 - documents the isolation

pytestmark = pytest.mark.slow

ID_RANGE = 10**12

CREATE_ROWS = """
import json
from cms import content
from cms.folders import create_folder
from cms.models import User
made = {{"user": [], "folder": [], "content": [], "history": []}}
for i in range(3):
    u = User.objects.create_user(f"{prefix}-user-{{i}}", password="x-password-1")
    f = create_folder(None, f"{prefix} folder {{i}}")
    c = content.create_content(f, f"{prefix} page {{i}}", "<p>x</p>", u)
    made["user"].append(u.id); made["folder"].append(f.id); made["content"].append(c.id)
    made["history"] += list(c.history.values_list("id", flat=True))
print(json.dumps(made))
"""


def assign_number(instance, number: int) -> None:
    instance.python(
        f"from relationships.server_identity import assign_server_number; "
        f"assign_server_number({number})"
    )


def test_servers_numbered_1_and_2_create_keys_that_never_collide(real_instances, backend):
    production = real_instances("production", backend=backend)
    staging = real_instances("staging", backend=backend)
    assign_number(production, 1)
    assign_number(staging, 2)
    made = {
        number: json.loads(instance.python(CREATE_ROWS.format(prefix=instance.name)))
        for number, instance in ((1, production), (2, staging))
    }
    for number, tables in made.items():
        for table, keys in tables.items():
            assert keys and all((number - 1) * ID_RANGE < k <= number * ID_RANGE for k in keys), (
                number, table, keys)
    for table in made[1]:
        assert not set(made[1][table]) & set(made[2][table]), table
    info = staging.info()
    assert (info["server_number"], info["max_id"]) == (2, 2)
    assert info["id_range"] == {"first": ID_RANGE + 1, "last": 2 * ID_RANGE}
    assert info["database"] == ("postgresql" if backend == "postgres" else "sqlite")


def test_two_instances_share_no_database_broker_queue_or_secret(real_instances):
    staging = real_instances("staging")
    production = real_instances("production")
    staging.python("from cms.folders import create_folder; create_folder(None, 'Only here')")
    assert production.python(
        "from cms.models import Folder; print(Folder.objects.filter(name='Only here').count())"
    ).strip() == "0"
    probe = ("from django.conf import settings as s; import json; print(json.dumps(["
             "s.DATABASES['default']['NAME'], s.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in'],"
             " s.CELERY_TASK_DEFAULT_QUEUE, s.SECRET_KEY, s.SESSION_COOKIE_NAME]))")
    staging_parts = json.loads(staging.python(probe))
    production_parts = json.loads(production.python(probe))
    for mine, theirs in zip(staging_parts, production_parts, strict=True):
        assert mine != theirs
    assert staging_parts[0].startswith(str(staging.home))
    assert staging_parts[1].startswith(str(staging.home))
    assert staging.info()["server_id"] != production.info()["server_id"]
