from django.apps import AppConfig


class SyncEngineConfig(AppConfig):
    name = "syncengine"
    verbose_name = "Synchronization engine"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from syncengine.change_log import install_after_migrate

        # Tables added by later migrations are tracked at once.
        post_migrate.connect(install_after_migrate, dispatch_uid="esync-change-tracking")
