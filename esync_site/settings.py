"""Django settings for one esync instance, read from its home (ESYNC_HOME) and the environment."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from esync_site.database_url import parse_database_url, sqlite_database
from esync_site.instance import (
    InstanceConfigError,
    load_config,
    read_or_create_secret_key,
    resolve_home,
)

BASE_DIR = Path(__file__).resolve().parent.parent

try:
    ESYNC = load_config(resolve_home())
except InstanceConfigError as error:
    raise ImproperlyConfigured(str(error)) from error

ESYNC_HOME = ESYNC.home
SECRET_KEY = read_or_create_secret_key(ESYNC_HOME)
DEBUG = os.environ.get("ESYNC_DEBUG") == "1"
ALLOWED_HOSTS = [*ESYNC.allowed_hosts]
if ESYNC.web_host not in ("0.0.0.0", "::", *ALLOWED_HOSTS):
    ALLOWED_HOSTS.append(ESYNC.web_host)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "relationships",
    "cms",
    "certificates",
    "profiles",
    "syncengine",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "esync_site.content_security.ContentSecurityPolicyMiddleware",
    "syncengine.peer_auth.PeerAuthenticationMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "esync_site.urls"
WSGI_APPLICATION = "esync_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # An instance may override a template (e.g. the collision e-mail) in HOME/templates.
        "DIRS": [ESYNC.home / "templates", BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cms.access.workarea_context",
            ],
        },
    },
]

_database_url = os.environ.get("DATABASE_URL") or ESYNC.database_url
try:
    DATABASES = {
        "default": parse_database_url(_database_url)
        if _database_url
        else sqlite_database(ESYNC.sqlite_path)
    }
except InstanceConfigError as error:
    raise ImproperlyConfigured(str(error)) from error

AUTH_USER_MODEL = "cms.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "cms:browser"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = ESYNC.time_zone
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # no collectstatic per home: serve from the package itself
WHITENOISE_AUTOREFRESH = DEBUG

# Library uploads land in the site root, where file sync finds them.
SITE_ROOT = ESYNC.site_root
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

SESSION_COOKIE_NAME = f"esync_{ESYNC.name}_session"  # two instances on one host keep apart
CSRF_COOKIE_NAME = f"esync_{ESYNC.name}_csrftoken"
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF token from the cookie: our forms carry it in the page.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "SAMEORIGIN"

EMAIL_BACKEND = os.environ.get(
    "ESYNC_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)

# Celery: an embedded broker under the home unless CELERY_BROKER_URL (or broker_url) says
# otherwise. A run's state lives in its SyncRun row, so there is no result backend.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or ESYNC.broker_url or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport with atomic writes (see embedded_broker.py).
    CELERY_BROKER_TRANSPORT = "esync_site.embedded_broker:Transport"
    _broker = ESYNC.broker_dir
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        "processed_folder": str(_broker / "processed"),
        "control_folder": str(_broker / "control"),
        "store_processed": False,
        # How often the worker looks for a new run (kombu's default is every second): a
        # "Sync now" should start at once; a directory listing 20 times a second is cheap.
        "polling_interval": 0.05,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = ESYNC.queue_name
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
DJANGO_CELERY_BEAT_TZ_AWARE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("ESYNC_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The embedded broker has no host name, and kombu says so on every connection.
        "kombu.connection": {"level": "ERROR"},
    },
}
