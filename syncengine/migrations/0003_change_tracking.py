"""Change tracking: the change log table and a trigger on every synced table.

Later migrations that add synced tables are covered by the post_migrate refresh (and
`esync tracking refresh`), which re-runs the same installer.
"""

from django.db import migrations


def install(apps, schema_editor):
    from syncengine import change_log

    change_log.install()


def uninstall(apps, schema_editor):
    from syncengine import change_log

    change_log.uninstall()


class Migration(migrations.Migration):

    dependencies = [
        ("syncengine", "0002_collision_conflictrecord_skippedrow_anchor"),
        ("cms", "0004_alter_contenthistory_options_and_more"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
