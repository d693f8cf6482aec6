"""The manual's table of what each profile item syncs, its exceptions, and the file filters."""

import pytest

from syncengine.file_rules import FileFilter, FilterRefused, is_synced, item_of, parse_extensions


@pytest.mark.parametrize(("path", "item"), [
    # Database/Resources: the four resource folders, any case
    ("assets/report.pdf", "database"),
    ("PrivateAssets/2009/plan.doc", "database"),
    ("uploadedimages/logo.png", "database"),
    ("UploadedFiles/form.pdf", "database"),
    # Workarea Files: workarea/ minus its excluded folders
    ("workarea/custom/menu.js", "workarea"),
    ("Workarea/default.css", "workarea"),
    ("workarea/ewebeditpro/editor.js", None),
    ("workarea/help/index.html", None),
    ("workarea/Explorer/tree.js", None),
    ("workarea/ewebdiff/diff.js", None),
    ("workarea/documents/a.doc", None),
    ("workarea/foundation/base.css", None),
    ("workarea/resources/strings.resx", None),
    ("workarea/sync/status.html", None),
    ("workarea/custom/help/topic.html", "workarea"),  # only workarea's own help folder
    # bin: its own tick box
    ("bin/site.dll", "bin"),
    ("BIN/x/y.dll", "bin"),
    # Templates: everything else in the site root...
    ("default.aspx", "templates"),
    ("templates/page.html", "templates"),
    ("css/site.css", "templates"),
    ("blog/2009/theme/post.html", "templates"),
    # ...except these folders
    ("app_webreferences/service.wsdl", None),
    ("LatestChanges/today.html", None),
    ("app_globalresources/strings.resx", None),
    # ...resource folder names at any depth
    ("microsite/assets/banner.png", None),
    ("microsite/deep/UploadedImages/pic.png", None),
    # ...and these files
    ("web.config", None),
    ("AssetManagement.config", None),
    ("sub/web.config", None),
    # esync's own partly written files are never anyone's
    (".esync-1234", None),
    ("css/.esync-abc", None),
])
def test_each_file_belongs_to_the_item_the_manual_says(path, item):
    assert item_of(path) == item


@pytest.mark.parametrize(("path", "mode", "extensions", "synced"), [
    # global exceptions: .config, .txt, .sln are not synced by default
    ("css/site.css", "none", "", True),
    ("search/index.txt", "none", "", False),
    ("settings/app.config", "none", "", False),
    ("src/site.sln", "none", "", False),
    ("README.TXT", "none", "", False),
    # ...unless an Include filter names them: then only those are synced
    ("search/index.txt", "include", "*.txt", True),
    ("css/site.css", "include", "*.txt", False),
    ("settings/app.config", "include", ".config, txt", True),
    # Exclude: these as well as the global exceptions
    ("media/intro.swf", "exclude", ".swf", False),
    ("css/site.css", "exclude", ".swf", True),
    ("search/index.txt", "exclude", ".swf", False),
    # web.config stays out whatever the filter says
    ("web.config", "include", "*.config", False),
])
def test_filters_and_global_exceptions(path, mode, extensions, synced):
    assert is_synced(path, {"templates"}, FileFilter.of(mode, extensions)) is synced


def test_an_item_not_ticked_is_not_synced():
    assert not is_synced("bin/site.dll", {"templates"}, FileFilter())
    assert is_synced("bin/site.dll", {"templates", "bin"}, FileFilter())
    assert not is_synced("workarea/menu.js", {"database"}, FileFilter())


@pytest.mark.parametrize(("text", "parsed"), [
    ("*.doc, .gif, txt", (".doc", ".gif", ".txt")),
    ("*.DOC,*.doc", (".doc",)),
    (" .swf ", (".swf",)),
])
def test_extension_lists_take_the_manuals_forms(text, parsed):
    assert parse_extensions(text) == parsed


@pytest.mark.parametrize("text", ["", " , ", "*.d oc", "../x", "*.*", "doc;gif"])
def test_a_malformed_extension_list_is_refused_with_its_reason(text):
    with pytest.raises(FilterRefused):
        parse_extensions(text)
