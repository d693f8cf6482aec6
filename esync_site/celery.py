"""The Celery app of an instance: its broker and queue come from the instance's settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "esync_site.settings")

app = Celery("esync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
