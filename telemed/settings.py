"""Settings for telemed, driven entirely by environment variables.

The embedded default (nothing set) runs on one machine: SQLite in WAL mode, files
under ``var/``, local-memory cache and the in-memory channel layer. Setting
``DATABASE_URL``, ``REDIS_URL`` and ``STORAGE_URL`` moves each piece to its
scalable counterpart. ``TELEMED_ENV=production`` turns on every deployment
safeguard; README.md lists every variable.
"""

import datetime
import ipaddress
import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TELEMED_VAR_DIR", BASE_DIR / "var"))

ENV = os.environ.get("TELEMED_ENV", "development")
if ENV not in {"development", "production"}:
    raise ImproperlyConfigured("TELEMED_ENV must be 'development' or 'production'")
PRODUCTION = ENV == "production"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("TELEMED_DEBUG", not PRODUCTION)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when TELEMED_ENV=production")
    SECRET_KEY = "development-only-key-never-used-in-production-telemed-2026"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
BASE_URL = os.environ.get("TELEMED_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", BASE_URL)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Full-text search, trigrams and unaccent on PostgreSQL; harmless on SQLite.
    "django.contrib.postgres",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    # The API: django-ninja (OpenAPI 3.1 from the code; its docs page's files from its own static
    # folder, no CDN) and django-oauth-toolkit (the OAuth 2.1 authorization server, listed after
    # telemed.api so that the api's own authorization page replaces the toolkit's).
    "ninja",
    "telemed.lib",
    "telemed.observability",
    "telemed.outbox",
    "telemed.accounts",
    "telemed.audit",
    "telemed.notifications",
    "telemed.workers",
    "telemed.care",
    "telemed.signatures",
    "telemed.boxes",
    "telemed.dicom",
    "telemed.billing",
    "telemed.messaging",
    "telemed.reports",
    "telemed.reminders",
    "telemed.consults",
    "telemed.visits",
    "telemed.directory",
    "telemed.fhir",
    "telemed.rights",
    "telemed.backups",
    "telemed.portal",
    "telemed.api",
    "oauth2_provider",
]

MIDDLEWARE = [
    # First, so that every later middleware's log lines carry the request id and the whole chain is timed.
    "telemed.observability.request_ids.RequestIdMiddleware",
    "telemed.observability.metrics.RequestLatencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "telemed.accounts.caching.PrivateResponseMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "telemed.accounts.middleware.SecondFactorMiddleware",
    "telemed.accounts.middleware.ConsentMiddleware",
    "telemed.accounts.middleware.AccountSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Axes must come last: it inspects the outcome of the login view.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "telemed.urls"
ASGI_APPLICATION = "telemed.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "telemed" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "telemed.portal.context_processors.navigation",
            ],
        },
    },
]

# Forms render with Jinja2 and Django's own Jinja2 form templates: the same HTML, several times faster.
FORM_RENDERER = "telemed.lib.form_rendering.FormRenderer"

# --- database --------------------------------------------------------------

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    default_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
else:
    default_db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "telemed.sqlite3")}

if default_db["ENGINE"] == "django.db.backends.sqlite3":
    default_db.setdefault("OPTIONS", {}).update(
        {
            # WAL lets readers proceed while the task worker writes; IMMEDIATE
            # takes the write lock up front so concurrent writers queue instead
            # of failing with "database is locked" half-way through.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # A file, not ":memory:", so that the server and worker processes started by
    # the browser tests see the same test database.
    default_db["TEST"] = {"NAME": str(VAR_DIR / "test-telemed.sqlite3")}
elif default_db["ENGINE"] == "django.db.backends.postgresql":
    if env_bool("DATABASE_POOL", True):
        default_db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": int(os.environ.get("DATABASE_POOL_MAX", "10")),
            "timeout": 10,
        }
DATABASES = {"default": default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, channel layer ------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
# Every key and channel this deployment puts in Redis starts with this, so that several
# deployments (or parallel test runs) can share one server without hearing each other.
REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "telemed")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": REDIS_PREFIX},
        }
    }
    # Sessions read from Redis and written through to the database: a query less on every
    # logged-in request. Only with Redis: a cache of each process's own would go on answering
    # for a session that another process has ended.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- background tasks -------------------------------------------------------

# django-tasks-db's backend; a task enqueued while a request is handled carries its request id (telemed.workers.backend).
TASKS = {"default": {"BACKEND": "telemed.workers.backend.RequestIdDatabaseBackend"}}
WORKER_INTERVAL = float(os.environ.get("TELEMED_WORKER_INTERVAL", "1"))
# Every task worker and reminder dispatcher writes a heartbeat this often (seconds); one older
# than HEARTBEAT_STALE_AFTER is dead: its tasks are run again and /healthz answers 503.
HEARTBEAT_INTERVAL = float(os.environ.get("TELEMED_HEARTBEAT_INTERVAL", "5"))
HEARTBEAT_STALE_AFTER = float(os.environ.get("TELEMED_HEARTBEAT_STALE_AFTER", "30"))
# A task whose worker died this many times is failed and staff are told.
TASK_MAX_ATTEMPTS = int(os.environ.get("TELEMED_TASK_MAX_ATTEMPTS", "3"))

# --- files ---------------------------------------------------------------------

MEDIA_ROOT = VAR_DIR / "media"
STATIC_ROOT = VAR_DIR / "static"
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "telemed" / "static"]
STORAGE_URL = os.environ.get("STORAGE_URL", "")


def storage_from_url(url: str) -> dict:
    """``s3://KEY:SECRET@host:port/bucket?region=…`` → django-storages S3 options.

    Private files are never served from a public URL: querystring auth gives
    short-lived signed links only.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"s3", "s3+http", "s3+https"}:
        raise ImproperlyConfigured("STORAGE_URL must start with s3://, s3+http:// or s3+https://")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    scheme = "http" if parts.scheme == "s3+http" else "https"
    options = {
        "bucket_name": parts.path.lstrip("/"),
        "access_key": unquote(parts.username or ""),
        "secret_key": unquote(parts.password or ""),
        "querystring_auth": True,
        "querystring_expire": 300,
        "default_acl": None,
        "file_overwrite": False,
    }
    if parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        options["endpoint_url"] = f"{scheme}://{parts.hostname}{port}"
    if "region" in query:
        options["region_name"] = query["region"]
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


STORAGES = {
    "default": storage_from_url(STORAGE_URL)
    if STORAGE_URL
    else {"BACKEND": "telemed.filestorage.DurableFileSystemStorage", "OPTIONS": {"location": MEDIA_ROOT}},
    "staticfiles": {
        "BACKEND": "telemed.staticfiles.HashedModulesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# In development static files come straight from the apps, no collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION

FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Clinical files on a local disk are for the platform's own user only (ASVS 12.4.1).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
CERTIFICATION_MAX_BYTES = 10 * 1024 * 1024

# --- digital signatures ------------------------------------------------------------

# Encrypts the doctors' signing keys, the platform CA's key and the signing TOTP seeds at rest.
# Keep it out of the database backups: a copy of the database alone must sign nothing.
# Required in production: without it nothing can be signed there (the signing code refuses).
SIGNING_KEY_SECRET = os.environ.get(
    "TELEMED_SIGNING_KEY", "" if PRODUCTION else "development-only-signing-key-never-used-in-production-telemed-2026"
)
# An RFC 3161 time-stamping authority: signatures become PAdES B-T instead of B-B.
SIGNING_TSA_URL = os.environ.get("TELEMED_TSA_URL", "")
# The public verification page refuses larger uploads before reading them.
SIGNATURE_VERIFY_MAX_BYTES = 20 * 1024 * 1024

# --- billing: the platform's bank account, payment reminders, Sistema TS --------------------

# Patients pay every request by SEPA transfer to this account; payouts leave from it.
# The IBAN's checksum is verified at startup (system check billing.E001).
BILLING_BENEFICIARY = os.environ.get("TELEMED_BANK_BENEFICIARY", "telemed S.r.l.")
BILLING_IBAN = os.environ.get("TELEMED_BANK_IBAN", "" if PRODUCTION else "IT04T0306909606000000100000")
BILLING_BIC = os.environ.get("TELEMED_BANK_BIC", "" if PRODUCTION else "BCITITMM")
# Days after a payment request at which a reminder goes out while it is unpaid.
BILLING_REMINDER_DAYS = os.environ.get("TELEMED_PAYMENT_REMINDER_DAYS", "7,14,30")
# The Sanitel certificate (PEM or DER) that encrypts fiscal codes in the Sistema TS file.
BILLING_STS_CERTIFICATE = os.environ.get("TELEMED_STS_CERTIFICATE", "")

# --- reminders: how late is late -------------------------------------------

# A reminder delivered more than this after its time says that it comes late.
REMINDERS_LATE_AFTER = datetime.timedelta(minutes=int(os.environ.get("TELEMED_REMINDER_LATE_MINUTES", "5")))
# Older than this (the platform was down), a reminder is no longer sent: it is recorded as missed.
REMINDERS_MAX_LATENESS = datetime.timedelta(hours=int(os.environ.get("TELEMED_REMINDER_MAX_LATENESS_HOURS", "12")))

# --- visits: ICE servers for the video room ---------------------------------

# STUN finds the browsers' public addresses; TURN relays media for patients behind strict NATs.
# TURN credentials are minted per user in coturn's REST style (use-auth-secret), valid for TTL seconds.
VISITS_STUN_URLS = env_list("TELEMED_STUN_URLS", "")
VISITS_TURN_URLS = env_list("TELEMED_TURN_URLS", "")
VISITS_TURN_SECRET = os.environ.get("TELEMED_TURN_SECRET", "")
VISITS_TURN_TTL = int(os.environ.get("TELEMED_TURN_TTL", "3600"))

# --- web push -----------------------------------------------------------------------

# The platform's VAPID key pair (RFC 8292): push services accept a push only when it is signed
# with the private key whose public half the browser subscribed with. The private key is the
# base64url of its 32 bytes (or of its DER, or a PEM); the public key the base64url of the
# uncompressed point (`manage.py vapid_keys` prints a new pair). Required in
# production; in development a pair is made once under VAR_DIR (telemed.notifications.webpush).
# Changing the pair silently orphans every subscription: browsers must subscribe again.
PUSH_VAPID_PUBLIC_KEY = os.environ.get("TELEMED_VAPID_PUBLIC_KEY", "").strip()
PUSH_VAPID_PRIVATE_KEY = os.environ.get("TELEMED_VAPID_PRIVATE_KEY", "").strip()
PUSH_VAPID_SUBJECT = os.environ.get("TELEMED_VAPID_SUBJECT", "mailto:assistenza@telemed.test")
if PRODUCTION and not (PUSH_VAPID_PUBLIC_KEY and PUSH_VAPID_PRIVATE_KEY):
    raise ImproperlyConfigured(
        "TELEMED_VAPID_PUBLIC_KEY and TELEMED_VAPID_PRIVATE_KEY must be set when TELEMED_ENV=production"
    )
if not PUSH_VAPID_SUBJECT.startswith(("mailto:", "https://")):
    raise ImproperlyConfigured("TELEMED_VAPID_SUBJECT must be a mailto: or https:// address")
# Subscriptions are accepted only for these push services (a host or a parent domain of it), so
# that the platform never posts to an address a browser made up. Development also accepts plain
# HTTP on the loopback address, for tests that play the push service.
PUSH_SERVICE_HOSTS = env_list(
    "TELEMED_PUSH_SERVICE_HOSTS",
    "fcm.googleapis.com,android.googleapis.com,push.services.mozilla.com,push.apple.com,notify.windows.com",
)
PUSH_ALLOW_LOOPBACK = not PRODUCTION
# How long a push service keeps a push for a device that is offline.
PUSH_TTL_SECONDS = int(os.environ.get("TELEMED_PUSH_TTL_SECONDS", str(24 * 60 * 60)))

# --- authentication and security -------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "telemed.accounts.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "telemed.accounts.password_validation.MaximumLengthValidator", "OPTIONS": {"max_length": 128}},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:home"

# Login throttling: after 5 failures for the same e-mail from the same address
# the pair is locked out for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The login form posts the e-mail as "username" (Django's AuthenticationForm).
AXES_USERNAME_FORM_FIELD = "username"
# One lockout record per account, whatever the letter case or spaces of the typed address.
AXES_USERNAME_CALLABLE = "telemed.accounts.lockout.axes_username"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

OTP_TOTP_ISSUER = "telemed"
# Wrong second-factor codes (authenticator or recovery codes), counted per account across every
# session: after this many in a row the second factor is refused for SECOND_FACTOR_COOLOFF.
SECOND_FACTOR_FAILURE_LIMIT = int(os.environ.get("SECOND_FACTOR_FAILURE_LIMIT", "5"))
SECOND_FACTOR_COOLOFF = datetime.timedelta(minutes=15)

# Data rights (telemed/rights): an account whose owner confirmed its deletion is erased after this
# many days, during which the owner can cancel it.
ERASURE_GRACE_DAYS = int(os.environ.get("TELEMED_ERASURE_GRACE_DAYS", "30"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 8
# The cookie's age slides with use; a login lasts at most this long, however active (ASVS 3.3.2).
SESSION_ABSOLUTE_AGE = datetime.timedelta(hours=12)
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    # __Host-: the browser keeps these cookies to this very host, over HTTPS, for every path.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The load balancer's probe and the Prometheus scrape reach the web processes directly, in plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# No inline scripts or styles anywhere: every script is a static ES module.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'", "ws:", "wss:"] if not PRODUCTION else ["'self'", "wss:"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- the API and its OAuth 2.1 server ------------------------------------------------------

# What an app may ask for, area by area; the authorization page shows these words to the person.
API_SCOPES = {
    "consults:read": _("Read your consults and their messages"),
    "consults:write": _("Write in your consults and draft a doctor's answer"),
    "documents:read": _("Read and download the documents of your Welbox or Medbox"),
    "notifications:read": _("Read your notifications"),
    "notifications:write": _("Mark your notifications as read"),
    "info:read": _("Read your Info requests, or the Info inbox of the doctors you work for"),
    "info:write": _("Send Info requests, or answer and reject those of your inbox"),
    "agenda:read": _("Read your health agenda and its reminders, or the reminders you set for your patients"),
    "agenda:write": _("Set, change and stop reminders"),
    "visits:read": _("Read your video visits, doctors' free slots and date proposals, and join a visit's room"),
    "visits:write": _("Book video visits and propose, accept or reject their dates"),
    "messages:read": _("Read your conversations and their messages"),
    "messages:write": _("Send messages in your conversations"),
    "studies:read": _("Read your radiology studies, or those shared with you, and view their images"),
    "payments:read": _("Read what you have to pay and how to pay it"),
    # SMART on FHIR (/fhir/R4/): a patient's own record, or everything the person sees.
    "patient/*.read": _("Read your own health record in the FHIR standard format"),
    "user/*.read": _("Read in the FHIR standard format what you can see on the platform"),
}
OAUTH2_PROVIDER = {
    "SCOPES": API_SCOPES,
    # An app gets only what it asked for: no scope asked is no scope granted.
    "DEFAULT_SCOPES": [],
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("TELEMED_API_TOKEN_SECONDS", "3600")),
    "REFRESH_TOKEN_EXPIRE_SECONDS": int(os.environ.get("TELEMED_API_REFRESH_SECONDS", str(30 * 24 * 60 * 60))),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    # A refresh token used twice (stolen and replayed) revokes the whole family (OAuth 2.1).
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    # OAuth 2.1 as RFC 9700 states it: no implicit or password grant, PKCE with S256 only,
    # tokens never in a URL's query, exact redirect URIs.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # The authorization response names its issuer (RFC 9207: no mix-up between servers), and
    # tokens are kept as checksums only: a copy of the database holds no usable token.
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # Native apps come back through their own scheme (RFC 8252), web apps over HTTPS; plain HTTP
    # only in development.
    "ALLOWED_REDIRECT_URI_SCHEMES": env_list(
        "TELEMED_OAUTH_REDIRECT_SCHEMES", "https,it.telemed.app" if PRODUCTION else "https,http,it.telemed.app"
    ),
    # The person is asked every time an app wants access (no silent re-approval).
    "REQUEST_APPROVAL_PROMPT": "force",
}
# Requests per token (or per person on the browsable docs, per address when anonymous) in a
# window: beyond, 429 with Retry-After.
API_RATE_LIMIT = os.environ.get("TELEMED_API_RATE_LIMIT", "120/min")
API_ANONYMOUS_RATE_LIMIT = os.environ.get("TELEMED_API_ANONYMOUS_RATE_LIMIT", "30/min")

# --- e-mail ----------------------------------------------------------------------

EMAIL_URL = os.environ.get("EMAIL_URL", "" if PRODUCTION else "console:")


def email_from_url(url: str) -> dict:
    """``smtp://user:pass@host:port`` (``smtps://`` for TLS, ``console:`` to print)."""
    parts = urlsplit(url)
    if parts.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme not in {"smtp", "smtps", "smtp+tls"}:
        raise ImproperlyConfigured("EMAIL_URL must be smtp://, smtps://, smtp+tls:// or console:")
    return {
        "EMAIL_BACKEND": "telemed.outbox.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": parts.port or (465 if parts.scheme == "smtps" else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": parts.scheme == "smtps",
        "EMAIL_USE_TLS": parts.scheme == "smtp+tls",
        "EMAIL_TIMEOUT": 20,
    }


if not EMAIL_URL:
    raise ImproperlyConfigured("EMAIL_URL must be set when TELEMED_ENV=production")
globals().update(email_from_url(EMAIL_URL))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "telemed <noreply@telemed.test>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where people write for what they cannot change alone (identity data, Ordine registration).
SUPPORT_EMAIL = os.environ.get("TELEMED_SUPPORT_EMAIL", "assistenza@telemed.test")

# --- language and time ---------------------------------------------------------

LANGUAGE_CODE = "it"
LANGUAGES = [("it", _("Italian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "telemed" / "locale"]
TIME_ZONE = "Europe/Rome"
USE_I18N = True
USE_TZ = True

# --- logging ----------------------------------------------------------------------

# "json": one JSON object per line (telemed.observability.logs), for a log collector; "plain" for people.
LOG_FORMAT = os.environ.get("TELEMED_LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("TELEMED_LOG_FORMAT must be 'plain' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line carries the id of the request (or of the request that enqueued the task) it belongs to.
    "filters": {"request_id": {"()": "telemed.observability.request_ids.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "telemed.observability.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("TELEMED_LOG_LEVEL", "INFO")},
    # fontTools logs every table it subsets and WeasyPrint every rendering step, for each PDF.
    "loggers": {"axes": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"}},
}

# --- metrics -----------------------------------------------------------------------

# /metrics answers only to a scrape that sends this bearer token and/or comes from these networks
# (both, when both are set); with neither it is a 404 like any unknown path (telemed.observability.views).
METRICS_TOKEN = os.environ.get("TELEMED_METRICS_TOKEN", "")
try:
    METRICS_NETWORKS = [ipaddress.ip_network(net, strict=False) for net in env_list("TELEMED_METRICS_NETWORKS", "")]
except ValueError as error:
    raise ImproperlyConfigured(f"TELEMED_METRICS_NETWORKS: {error}") from error
