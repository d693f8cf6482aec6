"""WSGI entry point of the Workarea (served by `esync serve` through cheroot)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "esync_site.settings")
application = get_wsgi_application()
