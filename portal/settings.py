"""Settings, read from the environment (and an optional `.env` file).

Every variable is documented in `.env.example`. Defaults give a zero set-up
development portal on SQLite; `DEBUG=false` turns on the production posture
and refuses to start without a real `SECRET_KEY`.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "portal.customers",
    "integrations",
    "portal",
]
# The local Microsoft simulator is a development tool (demo, tests, benchmark):
# never installed in production, where the Docker image does not even contain it.
DEV_TOOLS = env.bool("DEV_TOOLS", default=DEBUG)
if DEV_TOOLS:
    INSTALLED_APPS.append("microsoft_simulator")

MIDDLEWARE = [
    "portal.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "portal.sqlite_backend"
    # WAL lets readers run while the sync writes; the busy timeout makes
    # concurrent writers wait instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str(
        "SQLITE_TEST_NAME", default=str(BASE_DIR / "var" / "test.sqlite3")
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development (and under the test runner, which turns DEBUG off at run time)
# WhiteNoise serves straight from the app folders: no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security (production posture when DEBUG is off) ----------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Microsoft Entra ID ----------------------------------------------------
# The app's own credential comes from the environment only (rule R2).
AZURE_CLIENT_ID = env.str("AZURE_CLIENT_ID", default="")
AZURE_CLIENT_SECRET = env.str("AZURE_CLIENT_SECRET", default="")
AZURE_CLIENT_CERTIFICATE_PATH = env.str("AZURE_CLIENT_CERTIFICATE_PATH", default="")
AZURE_AUTHORITY_HOST = env.str("AZURE_AUTHORITY_HOST", default="https://login.microsoftonline.com").rstrip(
    "/"
)
# Where browsers are sent for admin consent; the same host in production. The local
# simulator serves its browser pages over plain HTTP so a real browser shows no warning.
AZURE_BROWSER_AUTHORITY_HOST = env.str("AZURE_BROWSER_AUTHORITY_HOST", default=AZURE_AUTHORITY_HOST).rstrip(
    "/"
)
GRAPH_API_URL = env.str("GRAPH_API_URL", default="https://graph.microsoft.com/v1.0").rstrip("/")
AZURE_CA_BUNDLE = env.str("AZURE_CA_BUNDLE", default="")
AZURE_SYNC_INTERVAL_HOURS = env.float("AZURE_SYNC_INTERVAL_HOURS", default=12)
AZURE_SYNC_PLANS = env.list("AZURE_SYNC_PLANS", default=["enterprise", "superpower"])

# --- Background work (django-q2) -------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "portal",
    "workers": env.int("Q_WORKERS", default=2),
    # A sync of a very large tenant may take minutes; retry must exceed timeout
    # so a slow task is never picked up twice. Our own SyncRun/lease tables own
    # the retry policy, so django-q2 tries each task once and never catches up
    # on schedules missed during downtime.
    "timeout": env.int("Q_TIMEOUT", default=3600),
    "retry": env.int("Q_RETRY", default=3900),
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Background tasks",
    "orm": "default",
}
if REDIS_URL:
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = REDIS_URL

# --- Logging: stdout, with secrets redacted --------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "portal.log_redaction.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Django's defaults give these two their own unfiltered stderr handlers
        # (runserver's request lines carry OAuth query strings): route them
        # through the redacting handler instead.
        "django": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        "msal": {"level": "WARNING"},
    },
}
