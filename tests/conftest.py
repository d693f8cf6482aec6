"""Shared fixtures: named users for in-process tests, and real instances for end-to-end ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.real_instances import RealInstance, create_instance, postgres_template_for
from tests.services import scratch_postgres_database

PASSWORD = "correct-horse-battery"


@pytest.fixture
def make_user(db) -> Callable:
    from django.contrib.auth.models import Group

    from cms.models import User
    from cms.roles import ensure_groups

    def make(username: str, *groups: str, kind: str = User.Kind.CMS) -> User:
        ensure_groups()  # a transactional test before this one flushed the migration's rows
        user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, kind=kind)
        for name in groups:
            user.groups.add(Group.objects.get(name=name))
        return user

    return make


@pytest.fixture
def administrator(make_user):
    from cms.roles import ADMINISTRATORS

    return make_user("alice", ADMINISTRATORS)


@pytest.fixture
def sync_admin(make_user):
    from cms.roles import SYNCHRONIZATION_ADMIN

    return make_user("sam", SYNCHRONIZATION_ADMIN)


@pytest.fixture
def editor(make_user):
    return make_user("eddie")


@pytest.fixture
def member(make_user):
    from cms.models import User

    return make_user("molly", kind=User.Kind.MEMBERSHIP)


@pytest.fixture
def site_root(settings, tmp_path) -> Path:
    """A fresh site root for tests that write library files."""
    from cms.site_root import create_site_root

    root = tmp_path / "siteroot"
    create_site_root(root)
    settings.SITE_ROOT = root
    return root


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def real_instances(tmp_path) -> Iterator[Callable[..., RealInstance]]:
    """Start real instances: `real_instances("staging", backend="postgres")`."""
    with ExitStack() as stack:

        def make(name: str, backend: str = "sqlite") -> RealInstance:
            database_url = None
            if backend == "postgres":
                database_url = stack.enter_context(scratch_postgres_database(
                    template=postgres_template_for(name)))
            instance = create_instance(tmp_path, name, database_url)
            stack.callback(instance.close)
            return instance

        yield make
