from django.apps import AppConfig


class RelationshipsConfig(AppConfig):
    name = "relationships"
    verbose_name = "Server identity and relationships"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from relationships.id_ranges import apply_id_range_after_migrate

        # New synced tables (later migrations) get this server's ID range at once.
        post_migrate.connect(apply_id_range_after_migrate, dispatch_uid="esync-id-ranges")
