"""Settings, read from the environment (and an optional `.env` file).

Every variable is documented in `.env.example`. Defaults give a zero set-up
development portal on SQLite; `DEBUG=false` turns on the production posture
and refuses to start without a real `SECRET_KEY`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
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
    # The admin site requires a second factor for staff (portal/security/admin_site.py).
    "portal.security.admin_config.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "portal.customers",
    "integrations",
    "portal",
    "portal.activity",
    # After every app whose permissions the MSP staff group holds (see its post_migrate).
    "portal.access",
]
# The local Microsoft simulator is a development tool (demo, tests, benchmark):
# never installed in production, where the Docker image does not even contain it.
DEV_TOOLS = env.bool("DEV_TOOLS", default=DEBUG)
if DEV_TOOLS:
    INSTALLED_APPS.append("microsoft_simulator")

MIDDLEWARE = [
    "portal.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session (a chosen language is kept there), before CommonMiddleware.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "portal.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.security.sessions.SessionTimeoutMiddleware",
    "portal.security.two_factor.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
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

# django-axes counts failed logins first; a locked-out user never reaches the password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"

# English and Italian (docs/design.md §7): the browser's Accept-Language picks
# one, the language switch (Django's set_language view) overrides it.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("it", "Italiano")]
LOCALE_PATHS = [BASE_DIR / "locale"]
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

# --- Login throttling (django-axes) -----------------------------------------
# Portal and admin logins both go through authenticate(), so both are counted.
# A user name and an IP address are locked separately: guessing one account's
# password from many addresses, or many accounts' passwords from one address.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "portal.security.client_ip.client_ip"
# Reverse proxies in front of the portal that append to X-Forwarded-For; 0 trusts
# none of it and uses the connection's address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]

# --- Two-factor authentication (django-otp) ---------------------------------
# Staff reach every customer's data: without a verified TOTP device (or a
# recovery code) they reach nothing but the enrolment page. Off by default
# under DEBUG so the demo works without a phone.
STAFF_REQUIRE_2FA = env.bool("STAFF_REQUIRE_2FA", default=not DEBUG)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="MSP Portal")

# --- Sessions -----------------------------------------------------------------
# Absolute lifetime from sign-in (enforced by portal.security.sessions, not only
# by the cookie), and an idle timeout for staff.
SESSION_COOKIE_AGE = env.int("SESSION_MAX_AGE_HOURS", default=12) * 3600
STAFF_SESSION_IDLE_MINUTES = env.int("STAFF_SESSION_IDLE_MINUTES", default=30)

# --- Content-Security-Policy (django-csp) and Permissions-Policy ------------
# No inline script or style anywhere: every script and style sheet is a file
# under static/. CSP_REPORT_ONLY=true sends the same policy as report-only, to
# try it on a deployment before enforcing it. No form-action: Chromium applies
# it to the redirect after a POST, and "Import from Azure AD" posts, then
# redirects to Microsoft's sign-in page.
_csp_report_uri = env.str("CSP_REPORT_URI", default="")
_CSP = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        **({"report-uri": [_csp_report_uri]} if _csp_report_uri else {}),
    }
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}
# --- E-mail --------------------------------------------------------------------
# One URL picks the backend: the console by default (`make run` prints the
# e-mails), SMTP in production (smtp+tls://user:password@host:587).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="MSP Portal <portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The MSP's operations mailbox: connection alerts go here (empty: no ops alerts).
OPS_EMAIL = env.str("OPS_EMAIL", default="")
# How the portal is reached from outside, for links in e-mails sent without a
# request (alerts from the worker).
PORTAL_URL = env.str("PORTAL_URL", default="http://127.0.0.1:8000").rstrip("/")
# Days an invitation's set-your-password link stays valid.
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=7)

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
# The mass-change brake (docs/design.md §6.1): a run that would overwrite fields of more than
# this share of the synced contacts, and of at least this many, is held for approval.
AZURE_BRAKE_PERCENT = env.int("AZURE_BRAKE_PERCENT", default=20)
AZURE_BRAKE_MINIMUM = env.int("AZURE_BRAKE_MINIMUM", default=50)

# --- Background work (django-q2) -------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    # Its own name keeps two clusters sharing one Redis apart (queues are keyed by it).
    "name": env.str("Q_CLUSTER_NAME", default="portal"),
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
        # Failed logins and lockouts are warnings; successes and resets are chatter.
        "axes": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "msal": {"level": "WARNING"},
    },
}
