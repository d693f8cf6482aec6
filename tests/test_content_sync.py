"""The manual's "Using Content and Folder Level Sync" with two real instances: one approved
item goes live with its image, and nothing else; a folder's direct items; the prerequisites."""

import pytest

from tests.db_sync_helpers import run_python, staged_pair
from tests.sync_helpers import contents

pytestmark = pytest.mark.slow

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff"
       b"\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

EDIT_AND_APPROVE = """
from django.core.files.uploadedfile import SimpleUploadedFile
from cms.content import approve_content, save_content
from cms.library import add_to_library
from cms.models import Content, LibraryItem, UrlAlias, User
# A new author, not an Administrator (a new Administrator from a peer waits for a decision
# here: see test_privileged_changes.py)
admin = User.objects.create_user("newbie", "newbie@example.com", "pass-word-1")
first, second = Content.objects.order_by("id")[:2]
image = add_to_library(SimpleUploadedFile("new-photo.png", {png!r}), "New photo", admin)
link = LibraryItem.objects.create(kind="quicklink", title="See also",
                                  path=f"/content/{{second.id}}", content=second)
save_content(first, "Launch day", f'<p>We launch.</p><img src="{{image.url}}" alt="">'
             f'<a href="{{link.path}}">See also</a>', admin)
approve_content(first, User.objects.filter(groups__name="Administrators").first())
UrlAlias.objects.create(alias="launch", content=first, language=first.language)
save_content(second, "Not yet", "<p>Still a draft on staging.</p>", admin)
result = dict(first=first.id, second=second.id, image=image.path, link=link.path,
              versions=first.history.count())
"""

ITEM_ON = """
from cms.models import Content, LibraryItem, UrlAlias
c = Content.objects.get(id={id})
result = dict(title=c.title, html=c.html, status=c.status,
              versions=list(c.history.order_by("id").values_list("comment", flat=True)),
              aliases=list(UrlAlias.objects.filter(content=c).values_list("alias", flat=True)),
              library=list(LibraryItem.objects.filter(path={path!r}).values_list("title",
                                                                                flat=True)))
"""


USERNAMES = """
from cms.models import User
result = sorted(User.objects.values_list("username", flat=True))
"""


def without(snapshot: dict, *tables: str) -> dict:
    return {table: rows for table, rows in snapshot["tables"].items() if table not in tables}


def test_an_approved_item_goes_live_with_its_image_and_nothing_else_moves(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        pair.add_profile("Up", "upload")
        before = contents(pair.production)
        made = run_python(pair.staging, EDIT_AND_APPROVE.format(png=PNG))

        result = pair.staging.esync("content", "sync", str(made["first"]), "--relationship",
                                    str(pair.relationship), "--wait")

        assert "Success" in result.stdout, result.stdout
        there = run_python(pair.production, ITEM_ON.format(id=made["first"],
                                                           path=made["image"]))
        assert (there["title"], there["status"], there["library"]) == (
            "Launch day", "A", ["New photo"])
        assert "launch" in there["aliases"]
        assert made["image"] in there["html"]
        assert run_python(pair.production, ITEM_ON.format(id=made["first"], path=made["link"])
                          )["library"] == ["See also"]  # the quicklink it refers to
        # Production kept its own history and gained the approved version.
        assert there["versions"][-1] == "Approved" and len(there["versions"]) >= 2
        image = pair.production.home / "siteroot" / made["image"]
        assert image.read_bytes() == PNG
        # The other edit stays behind; no other row changed there.
        assert run_python(pair.production, ITEM_ON.format(id=made["second"], path="-"))[
            "title"] != "Not yet"
        after = contents(pair.production)
        moved = ("cms_content", "cms_contenthistory", "cms_urlalias", "cms_libraryitem",
                 "cms_user", "cms_user_groups")
        assert without(after, *moved) == without(before, *moved)
        # The new editor the rows name came along.
        assert run_python(pair.production, USERNAMES) == run_python(pair.staging, USERNAMES)
        logs = pair.staging.esync("logs", "--json").stdout
        assert '"type": "ContentSync"' in logs


SETUP_FOLDER_ITEMS = """
from cms.content import approve_content, create_content
from cms.models import Content, Folder, User
admin = User.objects.get(username="admin")
folder = Folder.objects.get(id={folder})
sub = folder.children.order_by("id").first()
made = dict(direct=[], nested=[])
for i in range(2):
    made["direct"].append(approve_content(create_content(folder, f"Direct {{i}}", "<p>d</p>",
                                                         admin), admin).id)
if sub is not None:
    made["nested"].append(approve_content(create_content(sub, "Nested", "<p>n</p>", admin),
                                          admin).id)
result = made
"""

FOLDER_WITH_A_SUBFOLDER = """
from cms.models import Folder
parent = next(f for f in Folder.objects.order_by("id") if f.children.exists())
result = parent.id
"""

HAS_CONTENT = """
from cms.models import Content
result = sorted(Content.objects.filter(id__in={ids}).values_list("id", flat=True))
"""


def test_a_folder_sync_moves_its_direct_items_and_not_its_subfolders(real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        pair.add_profile("Up", "upload")
        folder = run_python(pair.staging, FOLDER_WITH_A_SUBFOLDER)
        made = run_python(pair.staging, SETUP_FOLDER_ITEMS.format(folder=folder))
        assert made["nested"], "the sample site has a folder with a subfolder"

        pair.staging.esync("folder", "sync", str(folder), "--relationship",
                           str(pair.relationship), "--wait")

        assert run_python(pair.production, HAS_CONTENT.format(ids=made["direct"])) == \
            made["direct"]
        assert run_python(pair.production, HAS_CONTENT.format(ids=made["nested"])) == []


NEW_FOLDER_ITEM = """
from cms.content import approve_content, create_content
from cms.models import Folder, Tag, User
admin = User.objects.get(username="admin")
root = Folder.objects.filter(parent__isnull=True).order_by("id").first()
new = Folder.objects.create(parent=root, name="Brand new")
result = approve_content(create_content(new, "In a new folder", "<p>x</p>", admin), admin).id
"""

DRAFT = """
from cms.content import create_content
from cms.models import Folder, User
admin = User.objects.get(username="admin")
root = Folder.objects.filter(parent__isnull=True).order_by("id").first()
result = create_content(root, "Draft", "<p>x</p>", admin).id
"""

NEW_TAG = """
from cms.models import Tag
Tag.objects.create(name="fresh")
result = 1
"""

NEW_DEFINITION_USED = """
from cms.models import MetadataDefinition, MetadataValue
MetadataValue.objects.create(content_id={item},
                             definition=MetadataDefinition.objects.create(name="Audience"),
                             value="everyone")
result = 1
"""


def test_each_prerequisite_is_refused_with_what_to_do(real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        relationship = str(pair.relationship)

        def refused(item: int, kind: str = "content") -> str:
            result = pair.staging.esync(kind, "sync", str(item), "--relationship",
                                        relationship, check=False)
            assert result.returncode == 3, result.stdout + result.stderr
            return result.stderr

        draft = run_python(pair.staging, DRAFT)
        pair.staging.esync("profile", "edit", "Default DB profile1", "--direction", "download")
        assert "has no Database/Resources profile that uploads" in refused(draft)
        pair.staging.esync("profile", "edit", "Default DB profile1", "--direction", "upload")
        pair.add_profile("Up", "upload")
        assert "is not Approved: approve it" in refused(draft)
        in_new_folder = run_python(pair.staging, NEW_FOLDER_ITEM)
        assert "run a database sync first" in refused(in_new_folder)
        pair.sync("Up")  # the folder is there now
        run_python(pair.staging, NEW_TAG)
        assert "Tags or taxonomy categories were added" in refused(in_new_folder)
        pair.sync("Up")
        run_python(pair.staging, NEW_DEFINITION_USED.format(item=in_new_folder))
        assert "A metadata definition the content uses was added" in refused(in_new_folder)
        pair.sync("Up")
        # a new definition the item does not use is no reason to wait
        run_python(pair.staging, "from cms.models import MetadataDefinition\n"
                                 "MetadataDefinition.objects.create(name='Unused')\nresult = 1")
        pair.staging.esync("content", "sync", str(in_new_folder), "--relationship",
                           relationship, "--wait")
        config = pair.staging.home / "esync.toml"
        config.write_text(config.read_text().replace("esync_enabled = true",
                                                     "esync_enabled = false"))
        assert "Sync is not enabled on this instance" in refused(in_new_folder)


ASSIGN = """
from cms.content import approve_content, save_content
from cms.models import (Content, ContentTag, MetadataDefinition, MetadataValue, Tag, UrlAlias,
                        User)
admin = User.objects.get(username="admin")
first, second = Content.objects.order_by("id")[:2]
news, launch = Tag.objects.create(name="t-news"), Tag.objects.create(name="t-launch")
keywords = MetadataDefinition.objects.create(name="Rocket words")
for c in (first, second):
    ContentTag.objects.create(content=c, tag=news)
    ContentTag.objects.create(content=c, tag=launch)
MetadataValue.objects.create(content=first, definition=keywords, value="rocket")
UrlAlias.objects.create(alias="launch-day", content=first, language=first.language)
UrlAlias.objects.create(alias="keep-me", content=first, language=first.language)
if first.status == Content.Status.APPROVED:
    save_content(first, first.title, first.html, admin)
approve_content(first, admin)
result = dict(first=first.id, second=second.id)
"""

UNASSIGN_ON_STAGING = """
from cms.models import ContentTag, MetadataValue, Tag, UrlAlias
ContentTag.objects.filter(content_id={first}, tag__name="t-launch").delete()
ContentTag.objects.filter(content_id={first}, tag__name="t-news").delete()  # and again:
ContentTag.objects.create(content_id={first}, tag=Tag.objects.get(name="t-news"))  # a new row
ContentTag.objects.filter(content_id={second}, tag__name="t-launch").delete()  # not synced
MetadataValue.objects.filter(content_id={first}, definition__name="Rocket words").delete()
UrlAlias.objects.filter(alias="launch-day").delete()
result = 1
"""

ADD_ON_PRODUCTION = """
from cms.models import Content, ContentTag, Tag
ContentTag.objects.create(content=Content.objects.get(id={first}),
                          tag=Tag.objects.create(name="t-production's own"))
result = 1
"""

ASSIGNMENTS = """
from cms.models import ContentTag, MetadataValue, UrlAlias
result = {{str(c): dict(
    tags=sorted(ContentTag.objects.filter(content_id=c, tag__name__startswith="t-")
                .values_list("tag__name", flat=True)),
    metadata=list(MetadataValue.objects.filter(content_id=c, definition__name="Rocket words")
                  .values_list("value", flat=True)),
    aliases=sorted(UrlAlias.objects.filter(content_id=c, alias__in=["launch-day", "keep-me"])
                   .values_list("alias", flat=True)))
    for c in ({first}, {second})}}
"""


def test_assignments_removed_on_staging_are_removed_with_the_item_and_nothing_else(
        real_instances, tmp_path):
    with staged_pair(real_instances, tmp_path) as pair:
        profile = pair.add_profile("Up", "upload")
        # given two items with tags, a metadata value and aliases, all on production already
        made = run_python(pair.staging, ASSIGN)
        pair.sync(profile)
        # when staging unlinks a tag from each, unlinks and links again another, removes
        # the metadata value and an alias, and production tags the first item itself
        run_python(pair.staging, UNASSIGN_ON_STAGING.format(**made))
        run_python(pair.production, ADD_ON_PRODUCTION.format(**made))
        # and staging synchronizes just the first item
        result = pair.staging.esync("content", "sync", str(made["first"]), "--relationship",
                                    str(pair.relationship), "--wait")
        assert "Success" in result.stdout, result.stdout
        assert "4 removed assignments" in result.stdout, result.stdout
        there = run_python(pair.production, ASSIGNMENTS.format(**made))
        # then the first item lost on production what it lost on staging, and kept
        # production's own tag
        assert there[str(made["first"])] == {
            "tags": ["t-news", "t-production's own"], "metadata": [], "aliases": ["keep-me"]}
        # and the second item, not synchronized, is untouched there
        assert there[str(made["second"])]["tags"] == ["t-launch", "t-news"]
