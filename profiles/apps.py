from django.apps import AppConfig
from django.db.models.signals import post_delete


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Synchronization profiles"

    def ready(self) -> None:
        from profiles.models import Profile

        # However a profile goes (its own Delete, or its relationship's), its beat entry goes.
        post_delete.connect(_remove_beat_entry, sender=Profile,
                            dispatch_uid="profiles.remove_beat_entry")


def _remove_beat_entry(sender, instance, **kwargs) -> None:
    from profiles.beat_entries import remove_entry

    remove_entry(instance.pk)
