"""Content and folder level sync: one approved item (or a folder's direct items) pushed to a
peer at once, nothing else (the manual's "Using Content and Folder Level Sync").

What moves for an item: its row as approved, its latest history version (the destination
keeps its own history and gains this version), its metadata values, tag and taxonomy links,
its URL aliases in its language, and the library items its body refers to (images, files,
quicklinks) with their files. The rows go as upserts through the peer's /changes/apply,
stamped there as coming from this instance (never echoed back); no anchor moves, so the next
full sync sends them again, which changes nothing. The files go like "Synchronize files".

Assignments removed here since the last database sync (a tag unlinked, an alias deleted) are
removed there too: the peer lists the items' assignment rows it has, and those this
instance's change log shows deleted here go as deletes. What the peer added itself stays.
"""

from __future__ import annotations

from html.parser import HTMLParser

from django.conf import settings
from django.db import transaction

from esync_site.refusal import Refusal
from syncengine import runs
from syncengine.models import Anchor, SyncRun


class ContentSyncRefused(Refusal):
    pass


LIBRARY_FOLDERS = ("uploadedimages/", "uploadedfiles/")
# An item's assignments: rows that belong to it and move (or go) with it.
ASSIGNMENT_TABLES = ("cms_metadatavalue", "cms_contenttag", "cms_contenttaxonomy",
                     "cms_urlalias")
MAX_ITEMS_ASKED = 10_000  # content items a peer may ask the assignments of at once


def eligible_relationships():
    """Relationships staged by an initial sync with a Database/Resources profile that uploads
    (Upload or Bidirectional): the ones the Synchronize dialog lists."""
    from relationships.models import Relationship

    return [r for r in Relationship.objects.filter(state=Relationship.State.STAGED)
            .prefetch_related("profiles").order_by("id") if _database_profile(r)]


def _database_profile(relationship):
    return next((p for p in relationship.profiles.all() if "database" in p.items
                 and p.direction in ("upload", "bidirectional")), None)


def refuse_unless_allowed(contents: list, relationship, folder=None) -> None:
    """The manual's prerequisites, each with its own message naming what to do."""
    if not settings.ESYNC.esync_enabled:
        raise ContentSyncRefused("Sync is not enabled on this instance (esync_enabled is false "
                                 "in esync.toml).")
    if not settings.ESYNC.can_initiate:
        raise ContentSyncRefused("This instance may not start a sync (can_initiate is false "
                                 "in esync.toml): start it from the other server.")
    if not relationship.is_staged:
        raise ContentSyncRefused(
            f"The relationship with {relationship.remote_name} has not been initialized by an "
            "initial sync: run it first.")
    if _database_profile(relationship) is None:
        raise ContentSyncRefused(
            f"The relationship with {relationship.remote_name} has no Database/Resources "
            "profile that uploads: add one (Upload or Bidirectional) first.")
    from cms.models import Content

    if folder is None:
        for content in contents:
            if content.kind == Content.Kind.FORUM_POST:
                raise ContentSyncRefused("A forum post cannot be synchronized on its own.")
            if content.status != Content.Status.APPROVED:
                raise ContentSyncRefused(
                    f"{content.title!r} is not Approved: approve it, then synchronize it.")
    elif folder.contents.filter(kind__in=[Content.Kind.BLOG_POST,
                                          Content.Kind.FORUM_POST]).exists():
        raise ContentSyncRefused("A folder of blog or forum posts cannot be synchronized on "
                                 "its own: run a database sync.")
    _refuse_unless_structure_synced(contents, relationship, folder)


def _refuse_unless_structure_synced(contents: list, relationship, folder) -> None:
    """The folder (and those it inherits from), the tags and taxonomy categories, and the
    metadata definitions the items use must be as the last database sync left them: those
    are moved by a database sync only."""
    changed = _changed_since_last_sync(relationship, ["cms_folder", "cms_tag",
                                                      "cms_taxonomycategory",
                                                      "cms_metadatadefinition"])
    used = None  # the metadata definitions the items use, looked up if need be
    folders = set()
    for item in ([folder] if folder else [c.folder for c in contents]):
        while item is not None:
            folders.add((item.id,))
            item = item.parent
    for change in changed:
        if change.table == "cms_folder" and change.key in folders:
            raise ContentSyncRefused(
                "The folder (or a folder it inherits from) is new or changed since the last "
                "database sync: run a database sync first.")
        # The log keeps a row's latest operation only: an added tag edited since shows as
        # an update, so any change counts.
        if change.table in ("cms_tag", "cms_taxonomycategory") and change.op != "D":
            raise ContentSyncRefused("Tags or taxonomy categories were added (or changed) "
                                     "since the last database sync: run a database sync "
                                     "first.")
        if change.table == "cms_metadatadefinition" and change.op != "D":
            if used is None:
                used = _definitions_used(contents)
            if change.key in used:  # the peer would skip the values naming it
                raise ContentSyncRefused("A metadata definition the content uses was added "
                                         "(or changed) since the last database sync: run a "
                                         "database sync first.")


def _changed_since_last_sync(relationship, tables: list[str]) -> list:
    """This instance's changes to `tables` that the last database sync with the peer did not
    send (those that came from the peer left out)."""
    from syncengine import change_log

    anchor = Anchor.objects.filter(relationship=relationship, source="site").first()
    return change_log.changes_between(anchor.local_sent if anchor else 0,
                                      change_log.high_water_mark(),
                                      exclude_origin=str(relationship.remote_server_id),
                                      tables=tables)


def _definitions_used(contents: list) -> set[tuple]:
    """The metadata definitions the items' values name, as change-log keys."""
    from cms.models import MetadataValue

    return {(definition,) for definition in MetadataValue.objects.filter(
        content_id__in=[c.id for c in contents]).values_list("definition_id", flat=True)}


def start_content_sync(relationship, user=None, content_id: int | None = None,
                       folder_id: int | None = None) -> SyncRun:
    """Queue a ContentSync run of one item, or a FolderSync run of a folder's direct items."""
    from cms.models import Content, Folder

    folder = None
    if folder_id is not None:
        folder = Folder.objects.filter(id=folder_id).first()
        if folder is None:
            raise ContentSyncRefused(f"There is no folder {folder_id}.")
        contents = list(folder.contents.filter(status=Content.Status.APPROVED).order_by("id"))
        if not contents:
            raise ContentSyncRefused(f"The folder {folder.path} has no approved content to "
                                     "synchronize.")
    else:
        content = Content.objects.filter(id=content_id).first()
        if content is None:
            raise ContentSyncRefused(f"There is no content {content_id}.")
        contents = [content]
    refuse_unless_allowed(contents, relationship, folder)
    with runs.exclusive():
        runs.refuse_if_running()
        run = SyncRun.objects.create(
            kind=SyncRun.Kind.FOLDER_SYNC if folder else SyncRun.Kind.CONTENT_SYNC,
            relationship=relationship, profile=_database_profile(relationship),
            direction="upload", target_ids=[c.id for c in contents],
            user=user if getattr(user, "pk", None) else None,
            user_name=getattr(user, "username", "") or "command line",
            phase="Waiting for the worker")
        transaction.on_commit(runs.dispatch_next)
    return run


# -- what moves -----------------------------------------------------------------------------

class _References(HTMLParser):
    """The site-root paths an item's body refers to (img src, a href)."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.paths.add(value.split("?")[0].split("#")[0])


def referenced_library(contents: list) -> list:
    """The library items the bodies refer to: files by their site-root path, quicklinks by
    their link."""
    from cms.models import LibraryItem

    parser = _References()
    for content in contents:
        parser.feed(content.html or "")
    wanted = {p.lstrip("/") for p in parser.paths} | parser.paths
    return list(LibraryItem.objects.filter(path__in=wanted).order_by("id"))


def item_changes(contents: list, relationship=None) -> tuple[list, list[str]]:
    """The rows that move (as upserts) and the library files that go with them. Users the
    rows refer to (editors, uploaders) go too when they are new here since the last database
    sync: the peer would not have them, and would skip the rows that name them."""
    from cms.models import ContentHistory, ContentTag, ContentTaxonomy, MetadataValue, UrlAlias
    from syncengine.change_sets import Change, fetch_rows, specs_by_name

    specs = specs_by_name()
    ids = [c.id for c in contents]
    latest = {}
    for version in ContentHistory.objects.filter(content_id__in=ids).order_by("id"):
        latest[version.content_id] = version.id
    library = referenced_library(contents)
    wanted = {
        "cms_content": ids,
        "cms_contenthistory": list(latest.values()),
        "cms_metadatavalue": list(MetadataValue.objects.filter(content_id__in=ids)
                                  .values_list("id", flat=True)),
        "cms_contenttag": list(ContentTag.objects.filter(content_id__in=ids)
                               .values_list("id", flat=True)),
        "cms_contenttaxonomy": list(ContentTaxonomy.objects.filter(content_id__in=ids)
                                    .values_list("id", flat=True)),
        "cms_urlalias": [a.id for c in contents for a in UrlAlias.objects.filter(
            content_id=c.id, language=c.language)],
        "cms_libraryitem": [item.id for item in library],
    }
    if relationship is not None:
        wanted["cms_user"] = _new_users(relationship, contents, library, latest.values())
    changes = []
    for table, keys in wanted.items():
        rows = fetch_rows(specs[table], [(key,) for key in keys])
        changes += [Change(table, key, "U", 0, row) for key, row in rows.items()]
    files = sorted({item.path for item in library
                    if item.path.startswith(LIBRARY_FOLDERS)})
    return changes, files


def assignments_of(content_ids: list[int]) -> dict[str, list[list]]:
    """The items' assignment rows here, per table, as [key, content id, language] (the
    language of URL aliases; None for the rest): what a peer's content sync asks for."""
    from cms.models import ContentTag, ContentTaxonomy, MetadataValue, UrlAlias

    found: dict[str, list[list]] = {}
    for table, model in (("cms_metadatavalue", MetadataValue), ("cms_contenttag", ContentTag),
                         ("cms_contenttaxonomy", ContentTaxonomy)):
        found[table] = [[key, content, None] for key, content in model.objects.filter(
            content_id__in=content_ids).order_by("id").values_list("id", "content_id")]
    found["cms_urlalias"] = [list(row) for row in UrlAlias.objects.filter(
        content_id__in=content_ids).order_by("id").values_list("id", "content_id", "language")]
    return found


def removed_assignments(relationship, contents: list, theirs: object) -> list:
    """Deletes of the items' assignments that the peer has (`theirs`, its `assignments_of`)
    and that were deleted here since the last database sync with it. URL aliases only in
    the item's language, as they move."""
    from syncengine.change_sets import Change

    deleted = {(change.table, change.key) for change in
               _changed_since_last_sync(relationship, list(ASSIGNMENT_TABLES))
               if change.op == "D"}
    languages = {content.id: content.language for content in contents}
    removals = []
    try:
        for table in ASSIGNMENT_TABLES:
            for key, content_id, language in theirs.get(table, []):
                if type(key) is not int or content_id not in languages:
                    continue
                if table == "cms_urlalias" and language != languages[content_id]:
                    continue
                if (table, (key,)) in deleted:
                    removals.append(Change(table, (key,), "D", 0, None))
    except (AttributeError, TypeError, ValueError) as error:
        raise ContentSyncRefused("The peer's list of the items' assignments is malformed."
                                 ) from error
    return removals


def _peer_assignments(client, content_ids: list[int]) -> dict[str, list]:
    """The peer's `assignments_of` these items, asked for as many at a time as it answers."""
    theirs: dict[str, list] = {table: [] for table in ASSIGNMENT_TABLES}
    for start in range(0, len(content_ids), MAX_ITEMS_ASKED):
        answer = client.post_json("/content/assignments",
                                  {"content": content_ids[start:start + MAX_ITEMS_ASKED]},
                                  idempotent=True)
        if not isinstance(answer, dict):
            raise ContentSyncRefused("The peer's list of the items' assignments is malformed.")
        for table in ASSIGNMENT_TABLES:
            rows = answer.get(table, [])
            if not isinstance(rows, list):
                raise ContentSyncRefused("The peer's list of the items' assignments is "
                                         "malformed.")
            theirs[table] += rows
    return theirs


def _new_users(relationship, contents: list, library: list, version_ids) -> list[int]:
    """The users the rows name who joined after the last database sync with this peer."""
    from cms.models import ContentHistory, User

    referred = {c.last_editor_id for c in contents} | {i.uploaded_by_id for i in library} | set(
        ContentHistory.objects.filter(id__in=list(version_ids)).values_list("editor_id",
                                                                            flat=True))
    referred.discard(None)
    anchor = Anchor.objects.filter(relationship=relationship, source="site").first()
    synced = max(filter(None, [relationship.staged_at, anchor and anchor.updated_at]),
                 default=None)
    users = User.objects.filter(id__in=referred)
    if synced is not None:
        users = users.filter(date_joined__gt=synced)
    return sorted(users.values_list("id", flat=True))


def run_content_sync(run: SyncRun) -> None:
    """The worker's part: send the rows, then the files; end success, or warning when the
    peer skipped anything (say which)."""
    from cms.models import Content
    from syncengine import db_sync, file_sync
    from syncengine.models import SkippedRow
    from syncengine.profile_sync import record_skipped_files

    relationship = run.relationship
    if relationship is None:
        raise ContentSyncRefused("The relationship of this run was deleted before it started.")
    contents = list(Content.objects.filter(id__in=run.target_ids).select_related("folder"))
    missing = set(run.target_ids) - {c.id for c in contents}
    if missing:
        raise ContentSyncRefused(f"Content {sorted(missing)} was deleted before the run began.")
    refuse_unless_allowed(contents, relationship,
                          contents[0].folder if run.kind == SyncRun.Kind.FOLDER_SYNC else None)
    runs.report(run, phase="Reading the items")
    changes, files = item_changes(contents, relationship)
    client = db_sync.client_for(relationship, run)
    removals = removed_assignments(relationship, contents,
                                   _peer_assignments(client, [c.id for c in contents]))
    applied = skipped = 0
    # Removals first, on their own: a tag unlinked and linked again here is a new row that
    # the old one, still there, would block.
    for batch in [*db_sync.batches(removals), *db_sync.batches(changes)]:
        runs.report(run, phase=f"Sending {len(batch)} rows")
        result = db_sync.send_batch(client, 0, batch, False)
        db_sync.record_skips(run, result, db_sync.REMOTE)
        applied += result.applied
        skipped += len(result.skipped)
    moved = None
    if files:
        runs.report(run, phase=f"Sending {len(files)} library files")
        moved = file_sync.sync_files(run, run.profile, lambda **f: runs.report(run, **f),
                                     client, only_paths=files)
        record_skipped_files(run, moved)
    skipped += len(moved.skipped) if moved else 0
    what = (f"{len(contents)} content items" if run.kind == SyncRun.Kind.FOLDER_SYNC
            else repr(contents[0].title))
    message = (f"{what}: {applied} rows applied"
               + (f" ({len(removals)} removed assignments among them)" if removals else "")
               + ", "
               f"{SkippedRow.objects.filter(run=run).count()} skipped"
               + (f"; {moved.describe()}" if moved else "") + ".")
    runs.finish(run, SyncRun.Status.WARNING if skipped else SyncRun.Status.SUCCESS,
                message=message, applied=applied + (moved.applied if moved else 0),
                skipped=skipped, total=len(changes) + len(removals) + len(files),
                done=len(changes) + len(removals) + len(files),
                bytes=moved.bytes if moved else 0)
