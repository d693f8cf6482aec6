"""Unique ID numbering: server N creates keys in ((N-1)·10^12, N·10^12] in every synced table."""

import pytest
from django.db import connection

from cms.models import Content, ContentHistory, Folder, User
from relationships.id_ranges import IdRangeExhausted, apply_id_range, ranged_models
from relationships.models import ID_RANGE_SIZE, ServerInfo
from relationships.server_identity import assign_server_number, get_server_info
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def back_to_an_unnumbered_server():
    yield
    ServerInfo.objects.update(server_number=None, max_id=1)
    apply_id_range()


def in_range(key: int, number: int) -> bool:
    return (number - 1) * ID_RANGE_SIZE < key <= number * ID_RANGE_SIZE


def test_every_cms_table_and_users_take_keys_from_the_range():
    names = {m._meta.db_table for m in ranged_models()}
    assert {"cms_user", "cms_folder", "cms_content", "cms_contenthistory", "cms_libraryitem",
            "cms_metadatadefinition", "cms_message", "cms_tag", "cms_taxonomycategory",
            "cms_menu", "cms_urlalias", "cms_contentrating"} <= names
    assert "relationships_serverinfo" not in names  # sync configuration is not synced


def test_an_unnumbered_server_allocates_like_server_1():
    assert get_server_info().server_number is None
    assert in_range(factories.content().id, 1)


def test_given_number_2_new_rows_land_in_the_second_trillion():
    factories.content()  # rows made before pairing keep their keys
    assign_server_number(2)
    page = factories.content()
    user = factories.user()
    history = ContentHistory.objects.filter(content=page).get()
    for key in (page.id, page.folder_id, user.id, history.id):
        assert in_range(key, 2), key
    assert get_server_info().id_range == (ID_RANGE_SIZE + 1, 2 * ID_RANGE_SIZE)


def test_rows_synced_from_a_higher_server_do_not_pull_allocation_out_of_range():
    assign_server_number(1)
    Folder.objects.create(id=3 * ID_RANGE_SIZE - 5, name="From server 3")
    created = factories.folder()
    assert in_range(created.id, 1)


def test_rows_of_our_range_written_by_a_sync_are_stepped_over():
    assign_server_number(2)
    existing = Folder.objects.create(id=ID_RANGE_SIZE + 500, name="Came back from a peer")
    apply_id_range()
    assert factories.folder().id > existing.id


def test_a_deleted_key_is_never_handed_out_again():
    assign_server_number(2)
    first = factories.folder()
    first_id = first.id
    first.delete()
    assert factories.folder().id > first_id


def test_a_key_past_the_end_of_the_range_is_an_error_not_a_wrap():
    assign_server_number(1)
    Folder.objects.create(id=ID_RANGE_SIZE, name="The last key")  # the range's very end
    apply_id_range()
    with pytest.raises(IdRangeExhausted, match="used up this server's ID range"):
        factories.folder()
    assert not Folder.objects.filter(id__gt=ID_RANGE_SIZE).exists()
    assert not Folder.objects.filter(id__lte=0).exists()


def test_bulk_created_rows_take_keys_from_the_range_too():
    assign_server_number(3)
    folder = factories.folder()
    Content.objects.bulk_create(
        [Content(folder=folder, title=f"Bulk {i}") for i in range(5)]
    )
    assert all(in_range(c.id, 3) for c in Content.objects.all())


def test_users_use_64_bit_keys():
    column = next(f for f in User._meta.fields if f.name == "id")
    assert column.get_internal_type() == "BigAutoField"
    assign_server_number(5)
    assert factories.user().id > 2**32  # would not fit a 32-bit key
    assert connection.vendor in ("sqlite", "postgresql")


def test_synced_tables_keep_their_timestamps_when_copied():
    """auto_now would stamp every copied row with the time of the copy."""
    for model in ranged_models():
        for field in model._meta.concrete_fields:
            assert not getattr(field, "auto_now", False), (model, field.name)
            assert not getattr(field, "auto_now_add", False), (model, field.name)
