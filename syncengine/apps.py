from django.apps import AppConfig


class SyncEngineConfig(AppConfig):
    name = "syncengine"
    verbose_name = "Synchronization engine"
