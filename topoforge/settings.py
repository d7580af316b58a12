"""TopoForge settings: read from the environment (and a ``.env`` file when present), nowhere else.

Every variable is listed with a comment in ``.env.example``.
"""
import re
import secrets
from datetime import timedelta
from pathlib import Path

import environ

from topoforge import __version__
from topoforge.config import (
    MONGODB_AUTO_FIELD,
    SQL_AUTO_FIELD,
    ConfigurationError,
    database_settings,
    help_only,
    is_mongodb,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)


def _secret_key():
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if help_only():
        return secrets.token_urlsafe(50)  # `manage.py ... --help` signs nothing: any key will do
    if not DEBUG:
        raise ConfigurationError(
            "SECRET_KEY is not set; set it in the environment or .env (required when DEBUG is off)"
        )
    # Development only: a random key kept under var/ so sessions and tokens survive restarts.
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        VAR_DIR.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
JWT_SECRET = env.str("JWT_SECRET", default="") or SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Storage --------------------------------------------------------------------------------
DATABASES = {
    "default": database_settings(
        mongodb_uri=env.str("MONGODB_URI", default=""),
        database_url=env.str("DATABASE_URL", default=""),
        database_name=env.str("DATABASE_NAME", default=""),
        sqlite_path=VAR_DIR / "topoforge.sqlite3",
    )
}
USING_MONGODB = is_mongodb(DATABASES["default"])

if USING_MONGODB:
    # django-mongodb-backend wants ObjectId primary keys everywhere, contrib apps included, so
    # they get AppConfigs and migration modules of their own (mongo_migrations/).
    DEFAULT_AUTO_FIELD = MONGODB_AUTO_FIELD
    _CONTRIB_APPS = [
        "topoforge.mongo_apps.MongoAdminConfig",
        "topoforge.mongo_apps.MongoAuthConfig",
        "topoforge.mongo_apps.MongoContentTypesConfig",
    ]
    MIGRATION_MODULES = {
        app: f"mongo_migrations.{app}"
        for app in ("admin", "auth", "contenttypes", "accounts", "anomalies")
    }
else:
    DEFAULT_AUTO_FIELD = SQL_AUTO_FIELD
    _CONTRIB_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes"]

INSTALLED_APPS = [
    "daphne",
    *_CONTRIB_APPS,
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "anomalies",
    "streams",
    "alerts",
    "realtime",
]
if USING_MONGODB:
    INSTALLED_APPS.append("django_mongodb_backend")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "topoforge.urls"
WSGI_APPLICATION = "topoforge.wsgi.application"
ASGI_APPLICATION = "topoforge.asgi.application"

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

# --- Accounts and passwords -----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
TOPOFORGE_ADMIN_PASSWORD = env.str("TOPOFORGE_ADMIN_PASSWORD", default="")

JWT_ACCESS_LIFETIME = timedelta(seconds=env.int("JWT_ACCESS_LIFETIME_SECONDS", default=24 * 3600))
JWT_REFRESH_LIFETIME = timedelta(
    seconds=env.int("JWT_REFRESH_LIFETIME_SECONDS", default=7 * 24 * 3600)
)
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SECRET,
    "ACCESS_TOKEN_LIFETIME": JWT_ACCESS_LIFETIME,
    "REFRESH_TOKEN_LIFETIME": JWT_REFRESH_LIFETIME,
    "USER_ID_CLAIM": "user_id",
    "USER_ID_FIELD": "id",
    "AUTH_HEADER_TYPES": ("Bearer",),
}

# --- Cache, channel layer -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="topoforge"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CACHE_KEY_PREFIX", default="topoforge")},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Realtime push (WebSocket, SSE) --------------------------------------------------------
# Seconds a ticket from POST /api/realtime/ticket stays valid (single use).
REALTIME_TICKET_TTL_SECONDS = env.int("REALTIME_TICKET_TTL_SECONDS", default=30)
# Seconds between application pings on a WebSocket, and between SSE heartbeat comments.
REALTIME_PING_SECONDS = env.float("REALTIME_PING_SECONDS", default=30)
REALTIME_SSE_HEARTBEAT_SECONDS = env.float("REALTIME_SSE_HEARTBEAT_SECONDS", default=15)
# Seconds between checks that a connected client's login session is still alive.
REALTIME_SESSION_CHECK_SECONDS = env.float("REALTIME_SESSION_CHECK_SECONDS", default=30)
# Messages queued for one client before it is dropped as too slow.
REALTIME_SEND_QUEUE_SIZE = env.int("REALTIME_SEND_QUEUE_SIZE", default=256)
# SSE rate limit: at most this many events per window per connection; the rest are summarised.
REALTIME_SSE_MAX_EVENTS = env.int("REALTIME_SSE_MAX_EVENTS", default=100)
REALTIME_SSE_RATE_WINDOW_SECONDS = env.float("REALTIME_SSE_RATE_WINDOW_SECONDS", default=60)
# Seconds between the web process's looks at the detections table for rows stored by other
# processes (realtime/store_follower.py); 0 = never. Without Redis this is how a detector in its
# own process reaches the browsers; with REDIS_URL the channel layer does it, hence 0.
# Empty (as in .env.example) means the default.
REALTIME_FOLLOW_STORE_SECONDS = float(env.str("REALTIME_FOLLOW_STORE_SECONDS", default="") or (0 if REDIS_URL else 0.5))

# --- REST API -------------------------------------------------------------------------------
def _throttle_rate(name, default="10/minute"):
    rate = env.str(name, default=default)
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", rate):
        raise ConfigurationError(f"{name} must look like 10/minute (or /second, /hour, /day), not {rate!r}")
    return rate


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.SessionJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "topoforge.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Every JSON body is capped at MAX_REQUEST_BYTES (413), whichever endpoint reads it.
    "DEFAULT_PARSER_CLASSES": ["anomalies.api.parsers.LimitedJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Login and registration, each counted per client IP and per account name (accounts/throttles.py).
    "DEFAULT_THROTTLE_RATES": {
        "login": _throttle_rate("LOGIN_THROTTLE_RATE"),
        "register": _throttle_rate("REGISTER_THROTTLE_RATE"),
    },
    # Reverse proxies in front of the server whose X-Forwarded-For is trusted for the client IP.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TopoForge API",
    "DESCRIPTION": "Topological anomaly detection on live event streams.",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name for the feedback labels, wherever they appear.
    "ENUM_NAME_OVERRIDES": {"FeedbackLabelEnum": "anomalies.models.FeedbackLabel"},
}
# Requests larger than this are refused with 413 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=1024 * 1024)

# --- Product settings -----------------------------------------------------------------------
TOPOFORGE_VERSION = __version__
TOPOFORGE_CONTACT = env.str("TOPOFORGE_CONTACT", default="admin@topoforge.com")
TOPOFORGE_ANOMALY_RETENTION_DAYS = env.int("TOPOFORGE_ANOMALY_RETENTION_DAYS", default=90)
TOPOFORGE_SESSION_RETENTION_DAYS = env.int("TOPOFORGE_SESSION_RETENTION_DAYS", default=7)

# --- Streams and the detection pipeline (manage.py detect) ----------------------------------
TOPOFORGE_WIKIPEDIA_URL = env.str(
    "TOPOFORGE_WIKIPEDIA_URL", default="https://stream.wikimedia.org/v2/stream/recentchange"
)
TOPOFORGE_NDJSON_BEARER_TOKEN = env.str("TOPOFORGE_NDJSON_BEARER_TOKEN", default="")
TOPOFORGE_BUCKET_SECONDS = env.float("TOPOFORGE_BUCKET_SECONDS", default=10.0)
TOPOFORGE_ALLOWED_LATENESS_SECONDS = env.float("TOPOFORGE_ALLOWED_LATENESS_SECONDS", default=5.0)
# Seconds of its own history the live generator feeds its detector before the live start (`detect
# --history`): "auto" is the detector's warm-up, so `make run` is scored from its first window.
TOPOFORGE_GENERATOR_HISTORY = env.str("TOPOFORGE_GENERATOR_HISTORY", default="auto")
TOPOFORGE_STORE_QUEUE_SIZE = env.int("TOPOFORGE_STORE_QUEUE_SIZE", default=1000)
TOPOFORGE_JOURNAL_DIR = env.str("TOPOFORGE_JOURNAL_DIR", default="") or str(VAR_DIR / "journal")
# The ASGI server checks the database when it starts (off in the test suite, which imports the
# application without a database of its own).
TOPOFORGE_STARTUP_CHECK = env.bool("TOPOFORGE_STARTUP_CHECK", default=True)

# --- Alerts ---------------------------------------------------------------------------------
# Webhook and Slack targets on loopback/private/link-local addresses are refused unless this is
# set (tests, private deployments). Cloud metadata addresses are refused regardless.
ALLOW_PRIVATE_WEBHOOKS = env.bool("ALLOW_PRIVATE_WEBHOOKS", default=False)
ALERT_WORKER_POLL_SECONDS = env.float("ALERT_WORKER_POLL_SECONDS", default=1.0)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ConfigurationError("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive; set at most one")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="TopoForge <alerts@topoforge.local>")

# --- Internationalisation, static files -----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Times to the second in the admin (topoforge/formats/).
FORMAT_MODULE_PATH = ["topoforge.formats"]
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Each request is logged once, by daphne's access log ("GET /x" 404). Django's own
        # handler (DEBUG only) and django.request's warnings made a 4xx three lines; now Django's
        # records go to the root handler only, and django.request only for 5xx (with traceback).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"level": "ERROR"},
    },
}
