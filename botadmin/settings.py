"""Settings for botadmin.

Every knob comes from the environment (or a `.env` file next to manage.py)
and is documented in docs/configuration.md. The defaults run everything on one machine
with no server besides botadmin itself: SQLite and a filesystem broker.
"""

import os
import secrets
import sys
from pathlib import Path

import environ
from celery.schedules import crontab
from kombu import Queue

from botadmin.env_booleans import env_bool
from botadmin.env_numbers import env_float, env_int
from botadmin.process_roles import process_role, worker_pool

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# `make test` runs the suite in parallel processes (pytest-xdist names each one in
# PYTEST_XDIST_WORKER). Each, with every server and Celery worker its tests start
# (they inherit the variable), gets its own var/ folder (filesystem broker,
# metrics, media, SQLite test database) and its own key prefix in a shared Redis.
TEST_WORKER = env.str("PYTEST_XDIST_WORKER", default="")
_default_var_dir = BASE_DIR / "var" / f"test-{TEST_WORKER}" if TEST_WORKER else BASE_DIR / "var"
VAR_DIR = Path(env.str("BOTADMIN_VAR_DIR", default=str(_default_var_dir)))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _load_or_create_secret_key() -> str:
    """Generate a key once into var/ so sessions survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _load_or_create_secret_key()
# Keys SECRET_KEY replaced: what they signed (sessions, media links) is still accepted,
# and nothing new is signed with them (docs/configuration.md, SECRET_KEY, for rotating it).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
BEHIND_HTTPS_PROXY = env_bool("BEHIND_HTTPS_PROXY", False)
# Reverse proxies whose X-Forwarded-For names the client (botadmin/client_address.py).
BOTADMIN_TRUSTED_PROXIES = env.list("BOTADMIN_TRUSTED_PROXIES", default=["127.0.0.1", "::1"])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_HTTPS_PROXY else None
if BEHIND_HTTPS_PROXY:
    # Served over HTTPS: cookies only over HTTPS, HSTS, and plain HTTP redirected,
    # except the probes and the scrape that load balancers and Prometheus make
    # inside the network.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz(?:/web)?$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Whether subdomains serve HTTPS and whether to ask for browser preload lists is the
# domain owner's choice (both are hard to undo): the two settings above, not a warning.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
# The pages' Content-Security-Policy (botadmin.middleware.ContentSecurityPolicyMiddleware),
# the admin's included: scripts and styles from botadmin's static files only, no inline
# <script>, on* handler, <style> or style="" and no eval (htmx's allowEval is off,
# templates/base.html), so that text an attacker slips into a page runs nothing.
# Images from botadmin only (its static files, the media archive; data: for the API docs'
# icons, blob: for a picture chosen for upload in the compose preview). A picture that a
# message names on another site is shown as its host name, never loaded, so that the
# site does not learn who reads the console and when (console/_remote_picture.html).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "ninja",
    "botadmin",
    "connectors",
    "conversations",
    "media",
    "messaging",
    "announcements",
    "forwarding",
    "audit",
    "deletions",
    "console",
]

MIDDLEWARE = [
    # Before anything resolves the URL or asks whether it is under /api/.
    "botadmin.api.ApiPathMiddleware",
    "botadmin.metrics.ApiRequestsMiddleware",
    # Outside the envelope's: what it writes for a HEAD loses its body too.
    "botadmin.api.ApiHeadMiddleware",
    # Outside the rest, so it also sees what the other middleware answer.
    "botadmin.api.JsonApiAnswersMiddleware",
    # Before anything asks request.is_secure().
    "botadmin.middleware.ForwardedProtoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "botadmin.middleware.ContentSecurityPolicyMiddleware",
    "botadmin.middleware.RequestIdMiddleware",
    # Before CommonMiddleware checks the Host header: the probes answer whatever it says.
    "botadmin.middleware.ProbesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "botadmin.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: its page has the user, the language and the messages.
    "botadmin.middleware.MethodNotAllowedPageMiddleware",
]

# Django's cached_db sessions, kept in the database and read through the shared
# cache. The subclass in botadmin/sessions.py only makes them work while the cache
# is down (the database alone then) and keeps a cached copy 5 minutes at most.
# Logging out ends the user's other sessions too (also botadmin/sessions.py).
SESSION_ENGINE = "botadmin.sessions"  # django.contrib.sessions.backends.cached_db

ROOT_URLCONF = "botadmin.urls"
WSGI_APPLICATION = "botadmin.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'botadmin.sqlite3'}"),
}
# The most a SQLite WAL file keeps of its size once checkpointed (in bytes);
# SQLite's checkpoints at about 4 MB keep it below that in normal use.
SQLITE_WAL_SIZE_LIMIT = 16 * 1024 * 1024
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; IMMEDIATE
    # transactions take the write lock up front, so concurrent writers queue
    # on the busy timeout instead of failing with "database is locked". SQLite
    # reuses its WAL file without shrinking it: one large transaction, or a
    # long read holding checkpoints back (an export), would leave it at its
    # largest for good; journal_size_limit cuts it back when it restarts.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                f"PRAGMA journal_size_limit={SQLITE_WAL_SIZE_LIMIT};"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("SQLITE_BUSY_TIMEOUT", 30),
        }
    )
    # The test database is a file, not :memory:, so that worker processes and
    # live servers started by tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    # A covering index's INCLUDE columns serve PostgreSQL's index-only scans; SQLite
    # builds the index on its key columns, all it needs. Unsilenced, every manage.py
    # command of `make run` opened with this warning, as if something were wrong.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
else:
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    if DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
        # libpq waits forever for a server that accepts TCP and never answers: every
        # request, task and health check would hang with it. `?connect_timeout=` wins.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
# Reusing connections matters on SQLite too: opening one (and its PRAGMAs) cost
# more than the whole insert of an accepted message.
DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("CONN_MAX_AGE", 60))
# How long `migrate` waits for the database server to accept connections (at boot,
# PostgreSQL on another host may still be starting: botadmin-migrate.service).
BOTADMIN_DATABASE_WAIT_SECONDS = env_float("BOTADMIN_DATABASE_WAIT_SECONDS", 120)
# How long a statement of `migrate` waits for a table's lock (PostgreSQL's lock_timeout),
# so that a quick ALTER queued behind a long reader does not queue every write behind it
# in turn; then `migrate` tries that migration again, for up to
# BOTADMIN_MIGRATE_RETRY_SECONDS. 0 waits as long as it takes.
BOTADMIN_MIGRATE_LOCK_TIMEOUT = env_float("BOTADMIN_MIGRATE_LOCK_TIMEOUT", 5)
BOTADMIN_MIGRATE_RETRY_SECONDS = env_float("BOTADMIN_MIGRATE_RETRY_SECONDS", 600)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (shared by all processes: rate limits, locks) --------------------
# The start of every key botadmin writes into Redis, the cache's (KEY_PREFIX) and the
# broker's (queues, their bindings and unacknowledged tasks, remote-control broadcasts:
# kombu's `global_keyprefix`), so that two installations can share one Redis database.
# A test process adds its own (TEST_WORKER) after it.
BOTADMIN_REDIS_KEY_PREFIX = env.str("BOTADMIN_REDIS_KEY_PREFIX", default="")
_REDIS_KEY_PREFIX = ":".join(part for part in (BOTADMIN_REDIS_KEY_PREFIX, TEST_WORKER) if part)
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://botadmin_cache")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    # The same table, with an incr() that loses no count (botadmin/cache.py).
    CACHES["default"]["BACKEND"] = "botadmin.cache.DatabaseCache"
    # Django keeps 300 entries, then deletes the expired ones and, if still over, a
    # third of the rest. Delivery keeps a gap key per conversation it sent to for two
    # minutes (messaging/delivery_pace.py): one announcement at 10 a second holds 1,200,
    # and culling dropped gap and rate keys, so pacing let messages through early.
    # 20,000 live keys are two minutes at 165 sends a second; Django counts the table
    # (up to this many rows, most of them expired) before every write, 0.8 ms on
    # PostgreSQL and 0.1 ms on SQLite at 20,000 rows, 5 and 2.5 ms at 100,000.
    # Past the limit only a tenth is dropped. `?max_entries=…&cull_frequency=…` wins.
    _db_cache_options = CACHES["default"].setdefault("OPTIONS", {})
    _db_cache_options.setdefault("MAX_ENTRIES", 20_000)
    _db_cache_options.setdefault("CULL_FREQUENCY", 10)
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # The same client, with a clear() that empties only KEY_PREFIX's keys (botadmin/cache.py).
    CACHES["default"]["BACKEND"] = "botadmin.cache.RedisCache"
    # redis-py waits forever by default: a hung Redis would hold every request.
    # Give up after a second; the callers carry on without the cache (docs/configuration.md,
    # CACHE_URL). `?socket_timeout=…&socket_connect_timeout=…` in the URL wins.
    _redis_options = CACHES["default"].setdefault("OPTIONS", {})
    _redis_options.setdefault("socket_connect_timeout", 1)
    _redis_options.setdefault("socket_timeout", 1)
if CACHES["default"]["BACKEND"] == "botadmin.cache.DatabaseCache":
    # The timeline's markdown bubbles (console/bubbles.py) in a table of their own: in
    # the default one (300 entries) they would push out the rate limits' counts.
    CACHES["bubbles"] = {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "botadmin_bubbles",
        "OPTIONS": {"MAX_ENTRIES": 5000},
    }
if _REDIS_KEY_PREFIX:
    for _cache in CACHES.values():
        _cache.setdefault("KEY_PREFIX", _REDIS_KEY_PREFIX)

# --- Celery -------------------------------------------------------------------
# The default broker is kombu's filesystem transport: it needs no server and
# works across the processes of one machine. The database is the outbox (every
# message row is committed before a task is enqueued, and a periodic sweeper
# re-enqueues anything stuck), so a broker that loses a wake-up only delays
# work. Use Redis or RabbitMQ when workers run on more than one machine.
# "localhost" only because kombu warns about a URL without a host; the folder is what counts.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
_FILESYSTEM_BROKER = CELERY_BROKER_URL.startswith("filesystem://")
if _FILESYSTEM_BROKER:
    # kombu's transport, writing each message file whole (botadmin/broker.py).
    CELERY_BROKER_TRANSPORT = "botadmin.broker:Transport"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # An idle worker looks for new files this often (kombu's default: 1 s).
        "polling_interval": 0.1,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
# The queue tasks go to and workers read by default (bench/delivery.py uses its own).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# The worker's pool. With the filesystem broker the worker runs Celery's
# synchronous loop, in which a prefork pool's children share one input pipe
# under a lock: a child killed while holding it (OOM killer, an operator)
# froze every other child with no log line. Threads have no children to lose,
# and delivery waits on HTTP and the database, not the CPU. Redis and RabbitMQ
# run the event loop, where prefork handles a lost child. A pool the worker's command
# line names (--pool, -P) wins, prefork too: Celery takes --pool=prefork for its own
# default and used this setting instead (celery/bin/worker.py, WorkersPool.convert).
CELERY_WORKER_POOL = worker_pool(sys.argv) or env.str(
    "CELERY_WORKER_POOL", default="threads" if _FILESYSTEM_BROKER else "prefork"
)
# The synchronous loop sleeps the polling interval whenever the worker holds
# as many unacknowledged tasks as it may prefetch: with one per thread it took
# about 2 tasks a second off the filesystem broker. A wider window drains
# hundreds a second (bench/delivery.py, docs/performance.md); tasks it held
# when killed are lost wake-ups, which the sweepers recover.
CELERY_WORKER_PREFETCH_MULTIPLIER = 8 if _FILESYSTEM_BROKER else 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A dead broker must not hold an API request: the message row is already
# committed and the delivery sweeper re-enqueues it, so publishing gives up fast.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A Redis that accepts connections but never answers would otherwise hang forever.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 3}
    if _REDIS_KEY_PREFIX:  # also a test process's own queues in a Redis shared by others
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = f"{_REDIS_KEY_PREFIX}:"
# Announcements and scheduled messages are rows with a due time; their beat
# entries wake the scheduler often enough that they start within seconds.
BOTADMIN_SCHEDULER_INTERVAL = env_float("BOTADMIN_SCHEDULER_INTERVAL", 2)
# The scheduler's tasks (with the delivery and media sweepers), forwarding's and
# the media fetches have queues of their own, and each is read by a worker process of
# its own, so that a backlog of deliveries (a 10,000-recipient fan-out, or the wake-ups
# queued while workers catch up) never delays them: a queue of its own is not enough. A
# worker consumes every queue declared here unless told otherwise, and then shares its
# threads or processes: forwarding's tasks (each drains due deliveries for up to 10 s)
# filled a worker's prefetched tasks and held sends behind them for a minute. Media
# fetches did the same: a fetch holds its thread for as long as the source takes (up to
# 10 fetches a task), and 500 inbound images from a source taking 2-5 s each held sends
# for 25 s to 3 minutes (bench/send_beside_media.py). The scheduler's queue did too:
# delivery tasks each drain for up to 30 s (messaging/delivery.py, DRAIN_SECONDS), so
# with every slot draining a backlog the worker asked the broker for a task once every
# 30 s / concurrency, and took a scheduler task at most every other time (kombu's
# round-robin queue order); beat adds two every BOTADMIN_SCHEDULER_INTERVAL, so the
# queue grew, and each task reached had waited past its `expires` and was dropped: a
# scheduled message was released 75 s to over 4 minutes late, after the backlog
# (bench/scheduled_beside_deliveries.py, docs/performance.md note 32). So forwarding,
# media fetches and the scheduler get worker processes of their own (`--queues=forwarding`,
# `--queues=media`, `--queues=scheduler`), and the sends' worker leaves them
# (`--exclude-queues=forwarding,media,scheduler`): the Procfile and the systemd units
# (docs/delivery.md, "Queues and workers").
CELERY_TASK_QUEUES = (
    Queue(CELERY_TASK_DEFAULT_QUEUE, routing_key=CELERY_TASK_DEFAULT_QUEUE),
    Queue("scheduler", routing_key="scheduler"),
    Queue("forwarding", routing_key="forwarding"),
    Queue("media", routing_key="media"),
)
CELERY_TASK_ROUTES = {
    "messaging.announcements.*": {"queue": "scheduler", "routing_key": "scheduler"},
    "messaging.release_scheduled_messages": {"queue": "scheduler", "routing_key": "scheduler"},
    "messaging.sweep_deliveries": {"queue": "scheduler", "routing_key": "scheduler"},
    "messaging.sweep_media": {"queue": "scheduler", "routing_key": "scheduler"},
    "messaging.delete_expired_uploads": {"queue": "scheduler", "routing_key": "scheduler"},
    "messaging.forward_*": {"queue": "forwarding", "routing_key": "forwarding"},
    "forwarding.forward_*": {"queue": "forwarding", "routing_key": "forwarding"},
    "forwarding.recover_missed": {"queue": "forwarding", "routing_key": "forwarding"},
    "messaging.sweep_webhook_deliveries": {"queue": "forwarding", "routing_key": "forwarding"},
    "messaging.fetch_media": {"queue": "media", "routing_key": "media"},
}

# --- Metrics (GET /metrics, botadmin/metrics.py) --------------------------------
# Off (404) until a token is set; Prometheus then sends `Authorization: Bearer …`.
BOTADMIN_METRICS_TOKEN = env.str("BOTADMIN_METRICS_TOKEN", default="")
BOTADMIN_METRICS_DIR = Path(env.str("BOTADMIN_METRICS_DIR", default=str(VAR_DIR / "metrics")))


# prometheus-client reads this when it is first imported, which is after settings. Each
# service (web, worker, beat, other) keeps its metric files in a folder of its own.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(BOTADMIN_METRICS_DIR / process_role(sys.argv))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

# --- Readiness (GET /readyz, botadmin/health.py) ------------------------------
# Workers and beat write a heartbeat this often (seconds); /readyz fails when the
# newest is older than BOTADMIN_HEARTBEAT_MAX_AGE, or when a due message has
# waited longer than BOTADMIN_READY_MAX_QUEUE_AGE. Each answer waits at most
# BOTADMIN_READY_TIMEOUT for its checks.
BOTADMIN_HEARTBEAT_INTERVAL = env_float("BOTADMIN_HEARTBEAT_INTERVAL", 15)
BOTADMIN_HEARTBEAT_MAX_AGE = env_float("BOTADMIN_HEARTBEAT_MAX_AGE", 60)
BOTADMIN_READY_MAX_QUEUE_AGE = env_float("BOTADMIN_READY_MAX_QUEUE_AGE", 300)
BOTADMIN_READY_TIMEOUT = env_float("BOTADMIN_READY_TIMEOUT", 1.5)

# --- Internationalisation ----------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# --- Media archive (media/store.py) --------------------------------------------
# Every image and file a bot sees or sends, stored once by its SHA-256: in a
# folder under var/ unless an S3-compatible bucket is configured.
BOTADMIN_MEDIA_DIR = Path(env.str("BOTADMIN_MEDIA_DIR", default=str(VAR_DIR / "media-archive")))
BOTADMIN_MEDIA_S3_BUCKET = env.str("BOTADMIN_MEDIA_S3_BUCKET", default="")
if BOTADMIN_MEDIA_S3_BUCKET:
    from botocore.config import Config as _S3Config

    STORAGES["media"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": BOTADMIN_MEDIA_S3_BUCKET,
            "endpoint_url": env.str("BOTADMIN_MEDIA_S3_ENDPOINT_URL", default="") or None,
            "access_key": env.str("BOTADMIN_MEDIA_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("BOTADMIN_MEDIA_S3_SECRET_ACCESS_KEY", default="") or None,
            "region_name": env.str("BOTADMIN_MEDIA_S3_REGION", default="") or None,
            "location": env.str("BOTADMIN_MEDIA_S3_PREFIX", default=""),
            # Files are served through botadmin's signed links, never from the bucket.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": True,
            # A bucket that hangs holds a worker for seconds, not minutes: the fetch
            # is retried later (nothing is lost).
            "client_config": _S3Config(
                connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}
            ),
        },
    }
else:
    STORAGES["media"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": BOTADMIN_MEDIA_DIR},
    }
# Larger media are not stored (the message says why).
BOTADMIN_MEDIA_MAX_BYTES = env_int("BOTADMIN_MEDIA_MAX_BYTES", 20 * 1024 * 1024)
# A media message is forwarded once its copy is stored, fetching failed for good,
# or this many seconds passed (then without the copy's link).
BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS = env_int("BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS", 60)
# Signed links to archived media (forwarded bodies) work this many days.
BOTADMIN_MEDIA_LINK_DAYS = env_int("BOTADMIN_MEDIA_LINK_DAYS", 7)
# Archived media older than this many days are deleted nightly (unset: kept).
BOTADMIN_MEDIA_RETENTION_DAYS = env_int("BOTADMIN_MEDIA_RETENTION_DAYS", None)
# Where receivers reach this botadmin: the base of links in forwarded bodies.
BOTADMIN_PUBLIC_URL = env.str("BOTADMIN_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")

LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:index"
FORMS_URLFIELD_ASSUME_HTTPS = True

# --- botadmin -------------------------------------------------------------
# Outbound requests (webhooks, images) to private, loopback or link-local
# addresses are refused unless this is on (make run's demo and tests turn it on).
BOTADMIN_ALLOW_PRIVATE_URLS = env_bool("BOTADMIN_ALLOW_PRIVATE_URLS", False)
# Where bridge agents may be (CIDRs, comma-separated): agent URLs resolving
# elsewhere are refused when saved and when called. Empty: anywhere.
BOTADMIN_AGENT_NETWORKS = env.list("BOTADMIN_AGENT_NETWORKS", default=[])
# Private networks webhook endpoints may be in (CIDRs, comma-separated), beside public
# addresses: an internal receiver without BOTADMIN_ALLOW_PRIVATE_URLS. Empty: none.
BOTADMIN_WEBHOOK_NETWORKS = env.list("BOTADMIN_WEBHOOK_NETWORKS", default=[])
# Where bots' outbound proxies (a WeCom app's proxy URL) may be (CIDRs): checked when
# saved and when connected to. Empty: at public addresses only.
BOTADMIN_OUTBOUND_PROXY_NETWORKS = env.list("BOTADMIN_OUTBOUND_PROXY_NETWORKS", default=[])
# Login throttling (console/login.py): this many wrong passwords for one user
# name (three times as many from one address) lock it out for this long.
BOTADMIN_LOGIN_FAILURE_LIMIT = env_int("BOTADMIN_LOGIN_FAILURE_LIMIT", 10)
BOTADMIN_LOGIN_LOCKOUT_MINUTES = env_int("BOTADMIN_LOGIN_LOCKOUT_MINUTES", 15)
# Where botadmin's docs/ folder is published (a repository's docs/ URL, a wiki):
# the console links its pages there. Empty: it names the file instead.
# How long a rotated-out API secret keeps working.
BOTADMIN_SECRET_GRACE_HOURS = env_float("BOTADMIN_SECRET_GRACE_HOURS", 24)
# Outbound HTTP limits (connectors, webhooks).
BOTADMIN_HTTP_CONNECT_TIMEOUT = env_float("BOTADMIN_HTTP_CONNECT_TIMEOUT", 5)
BOTADMIN_HTTP_READ_TIMEOUT = env_float("BOTADMIN_HTTP_READ_TIMEOUT", 15)
BOTADMIN_HTTP_MAX_RESPONSE_BYTES = env_int("BOTADMIN_HTTP_MAX_RESPONSE_BYTES", 1_048_576)
# Seconds to resolve an outbound URL's host before checking its address (botadmin/dns.py).
BOTADMIN_DNS_TIMEOUT = env_float("BOTADMIN_DNS_TIMEOUT", 3)
# /api/send: accepted requests per minute per bot secret (0 = no limit), and
# the largest body (a 2 MB image is 2.7 MB of base64).
BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE = env_int("BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE", 600)
BOTADMIN_SEND_MAX_BODY_BYTES = env_int("BOTADMIN_SEND_MAX_BODY_BYTES", 4 * 1024 * 1024)
# /api/upload_media: the largest request body (a 20 MB file and its multipart framing).
BOTADMIN_UPLOAD_MEDIA_MAX_BODY_BYTES = env_int(
    "BOTADMIN_UPLOAD_MEDIA_MAX_BODY_BYTES", 21 * 1024 * 1024
)
# Seconds between two deletions of expired uploads: an upload's file leaves the
# media archive at most this long after its 3 days (plus a worker's queue wait).
BOTADMIN_UPLOAD_CLEANUP_INTERVAL = env_float("BOTADMIN_UPLOAD_CLEANUP_INTERVAL", 300)
# Bridge connector: timeouts towards agents.
BRIDGE_CONNECT_TIMEOUT = env_float("BRIDGE_CONNECT_TIMEOUT", 5)
BRIDGE_READ_TIMEOUT = env_float("BRIDGE_READ_TIMEOUT", 15)
# Contact sync: every active bot syncs its users and groups this often (0 = only
# by hand), each at its own offset inside the interval.
BOTADMIN_SYNC_INTERVAL_MINUTES = env_int("BOTADMIN_SYNC_INTERVAL_MINUTES", 10)
# "Test the connection" of a group robot: its sample of groups' keys is asked about
# within this many seconds (connectors/wecom_robot_check.py).
BOTADMIN_ROBOT_KEY_CHECK_SECONDS = env_float("BOTADMIN_ROBOT_KEY_CHECK_SECONDS", 5)
# Its contact sync asks about every group's key within this many seconds; a key not
# answered by then is left as it was, counted as not checked (connectors/wecom_robot_check.py).
BOTADMIN_ROBOT_KEY_SYNC_SECONDS = env_float("BOTADMIN_ROBOT_KEY_SYNC_SECONDS", 240)
# WeCom's API (group robots); tests point it at a fake on 127.0.0.1.
WECOM_API_BASE = env.str("WECOM_API_BASE", default="https://qyapi.weixin.qq.com")
# WeCom's daily caps on a self-built app's sends, past which it drops messages without
# a word (shared/spec/wecom-app.md): botadmin holds a message that would pass one until
# the next day, China time. Messages a day to a member of an app chat, and person-
# messages a day per licensed account (the app's cap is that × the bot's "licensed
# accounts" setting).
WECOM_APP_CHAT_DAILY_LIMIT = env_int("WECOM_APP_CHAT_DAILY_LIMIT", 10_000)
WECOM_APP_DAILY_SENDS_PER_ACCOUNT = env_int("WECOM_APP_DAILY_SENDS_PER_ACCOUNT", 200)
# A self-built app's callback whose signed timestamp is further than this from now is
# refused (connectors/wecom_app_callback.py): a replay of a captured one. 0: no limit.
WECOM_APP_CALLBACK_MAX_AGE_SECONDS = env_int("WECOM_APP_CALLBACK_MAX_AGE_SECONDS", 3600)
# WeCom's AI bot long connection (connectors/wecom_aibot.py, manage.py aibot_gateway).
WECOM_AIBOT_WS_URL = env.str("WECOM_AIBOT_WS_URL", default="wss://openws.work.weixin.qq.com")
WECOM_AIBOT_HEARTBEAT_SECONDS = env_float("WECOM_AIBOT_HEARTBEAT_SECONDS", 30)
# The gateway's lease on a bot (renewed every WECOM_AIBOT_POLL_SECONDS): another
# gateway takes a bot over only this long after its holder stopped renewing.
WECOM_AIBOT_LEASE_SECONDS = env_float("WECOM_AIBOT_LEASE_SECONDS", 30)
WECOM_AIBOT_POLL_SECONDS = env_float("WECOM_AIBOT_POLL_SECONDS", 5)
WECOM_AIBOT_REPLY_WINDOW_SECONDS = env_float("WECOM_AIBOT_REPLY_WINDOW_SECONDS", 300)
# Where the gateway journals the callbacks it read until they are stored
# (connectors/aibot_inbox.py): keep it on a disk that outlives the process.
WECOM_AIBOT_INBOX_DIR = env.str("WECOM_AIBOT_INBOX_DIR", default=str(VAR_DIR / "aibot-inbox"))
# Where the gateway takes outbound messages from the delivery workers.
WECOM_AIBOT_GATEWAY_HOST = env.str("WECOM_AIBOT_GATEWAY_HOST", default="127.0.0.1")
WECOM_AIBOT_GATEWAY_PORT = env_int("WECOM_AIBOT_GATEWAY_PORT", 0)
WECOM_AIBOT_GATEWAY_URL = env.str("WECOM_AIBOT_GATEWAY_URL", default="")
# The baseline views of the benchmarks under /bench/ (never in production).
BOTADMIN_BENCH_VIEWS = env_bool("BOTADMIN_BENCH_VIEWS", False)

# --- Delivery (messaging.delivery) --------------------------------------------
# A message is tried at most this many times; waits grow 30 s, 1 min, 2 min, …
# (±20 % jitter), which spreads 8 attempts over about an hour.
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 8)
DELIVERY_RETRY_BASE_DELAY = env_float("DELIVERY_RETRY_BASE_DELAY", 30)
# A message `sending` for longer than this belongs to a lost worker: the sweeper
# retries it (idempotent connectors) or marks it uncertain (the others).
DELIVERY_SENDING_TIMEOUT = env_float("DELIVERY_SENDING_TIMEOUT", 120)
# How often the sweeper looks for stuck or due messages (seconds).
DELIVERY_SWEEP_INTERVAL = env_float("DELIVERY_SWEEP_INTERVAL", 30)
# Minimum seconds between two messages to one conversation.
DELIVERY_CONVERSATION_MIN_GAP = env_float("DELIVERY_CONVERSATION_MIN_GAP", 1)
# Seconds an `uncertain` message holds its conversation's newer messages back:
# long enough for an operator to decide, short enough not to stall a chat.
DELIVERY_UNCERTAIN_HOLD = env_float("DELIVERY_UNCERTAIN_HOLD", 600)
# Messages queued for a paused or inactive bot fail after this many hours
# (counted from when they were due) instead of going out days later.
DELIVERY_MAX_QUEUE_AGE_HOURS = env_float("DELIVERY_MAX_QUEUE_AGE_HOURS", 24)

# --- Celery beat: every periodic task, in one place ----------------------------
# Tasks themselves are found by autodiscover_tasks() in each app's tasks.py.
# A crontab entry is read in the deployment's zone, as every other schedule is: the
# nightly jobs below run at night where the operators are. (With "UTC" here, 03:17
# was 11:17 in China.) Every other entry is an interval, which no zone changes, and
# task ETAs travel with their offset (enable_utc), so nothing else depends on it.
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # The delivery sweeper: stuck or due outbound messages whose wake-up was lost.
    "delivery-sweeper": {
        "task": "messaging.sweep_deliveries",
        "schedule": DELIVERY_SWEEP_INTERVAL,
    },
    # Forwarding: due retries, deliveries whose wake-up was lost, and inbound
    # messages not fanned out yet.
    "sweep-webhook-deliveries": {
        "task": "messaging.sweep_webhook_deliveries",
        "schedule": 15.0,
    },
    # Announcements: rows with a due time.
    "announcements-tick": {
        "task": "messaging.announcements.tick",
        "schedule": BOTADMIN_SCHEDULER_INTERVAL,
        "options": {"expires": BOTADMIN_SCHEDULER_INTERVAL * 5},
    },
    # Scheduled messages (the API's send_at, announcements' held and quiet-hours ones).
    "release-scheduled-messages": {
        "task": "messaging.release_scheduled_messages",
        "schedule": BOTADMIN_SCHEDULER_INTERVAL,
        "options": {"expires": BOTADMIN_SCHEDULER_INTERVAL * 5},
    },
    # Contact sync: every bot at its own offset inside its interval.
    "conversations.sync_due_bots": {
        "task": "conversations.sync_due_bots",
        "schedule": 60.0,
    },
    # The media archive: fetches due again (retries, lost wake-ups).
    "sweep-media": {
        "task": "messaging.sweep_media",
        "schedule": 30.0,
    },
    # Deleting bots and conversations: jobs whose wake-up was lost or whose worker died.
    "resume-deletion-jobs": {
        "task": "deletions.resume_deletion_jobs",
        "schedule": 60.0,
    },
    "clear-expired-sessions": {
        "task": "botadmin.clear_expired_sessions",
        "schedule": 3600.0,
    },
    # Retention (messaging/retention.py, settings below).
    "purge-expired-messages": {
        "task": "messaging.purge_expired_messages",
        "schedule": crontab(hour=3, minute=17),  # TIME_ZONE: a quiet hour
    },
    # Webhook deliveries past their retention (forwarding/retention.py), the
    # recipient lists of announcement runs past the message retention, and images
    # uploaded for announcements that nothing names (announcements/uploaded_images.py).
    "purge-old-webhook-deliveries": {
        "task": "forwarding.purge_old_deliveries",
        "schedule": crontab(hour=3, minute=27),  # TIME_ZONE, after the messages
    },
    "forget-old-run-recipients": {
        "task": "announcements.forget_old_recipients",
        "schedule": crontab(hour=3, minute=37),  # TIME_ZONE
    },
    # Uploads (/api/upload_media) past their 3 days: an index seek that usually
    # finds nothing, often enough that their files go soon after.
    "delete-expired-uploads": {
        "task": "messaging.delete_expired_uploads",
        "schedule": BOTADMIN_UPLOAD_CLEANUP_INTERVAL,
        "options": {"expires": BOTADMIN_UPLOAD_CLEANUP_INTERVAL},
    },
    # Archived media past BOTADMIN_MEDIA_RETENTION_DAYS (nothing when unset), and
    # files nothing shows any more.
    "expire-media": {
        "task": "messaging.expire_media",
        "schedule": crontab(hour=3, minute=47),  # TIME_ZONE, after the purge
    },
}
# When each of them last ran: in the var dir with everything else botadmin writes, not in
# the working directory (`celery beat --schedule=…` still wins). A str: Celery appends the
# dbm module's suffixes (.dat, .dir, .bak) to it.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Logging: secrets never reach a log line ----------------------------------
# "text" (default) or "json": one JSON object per line from web, worker and beat.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    raise environ.ImproperlyConfigured("LOG_FORMAT must be text or json")
LOG_FORMAT = "plain" if LOG_FORMAT == "text" else "json"
DEFAULT_EXCEPTION_REPORTER_FILTER = "botadmin.logging.SecretMaskingExceptionReporterFilter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_secrets": {"()": "botadmin.logging.MaskSecretsFilter"},
        "one_line_warning": {"()": "botadmin.logging.OneLineWarningFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "botadmin.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["mask_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # A request for another host (a scanner, a probe by address): one warning line.
        "django.security.DisallowedHost": {"filters": ["one_line_warning"]},
        # Django logs every SQL statement with its parameters (secrets included,
        # which masking cannot recognise there) at DEBUG when DEBUG is on: opt-in only.
        "django.db.backends": {"level": "DEBUG" if env_bool("LOG_SQL", False) else "INFO"},
    },
}

# --- Retention (messaging/retention.py) -----------------------------------------
# Messages older than this many days are deleted nightly (a bot's own setting
# wins); unset keeps them. The operator-action audit log has its own limit, which
# an empty value or 0 turns off (docs/configuration.md), as it does the card task_ids' below.
BOTADMIN_MESSAGE_RETENTION_DAYS = env_int("BOTADMIN_MESSAGE_RETENTION_DAYS", None)
BOTADMIN_AUDIT_RETENTION_DAYS = env_int("BOTADMIN_AUDIT_RETENTION_DAYS", 365, empty=0)
# The template cards' task_ids a bot used (messaging/card_task_ids.py): WeCom refuses a
# repeated one and documents no expiry; a card reusing one forgotten is refused again.
BOTADMIN_CARD_TASK_ID_RETENTION_DAYS = env_int("BOTADMIN_CARD_TASK_ID_RETENTION_DAYS", 365, empty=0)
BOTADMIN_RETENTION_BATCH_SIZE = env_int("BOTADMIN_RETENTION_BATCH_SIZE", 500)
# Webhook deliveries (forwarding/retention.py): delivered ones this many days after their
# delivery, failed ones after their failure, with their attempts; 0 or empty keeps them.
BOTADMIN_WEBHOOK_DELIVERED_RETENTION_DAYS = env_int(
    "BOTADMIN_WEBHOOK_DELIVERED_RETENTION_DAYS", 30, empty=0
)
BOTADMIN_WEBHOOK_FAILED_RETENTION_DAYS = env_int(
    "BOTADMIN_WEBHOOK_FAILED_RETENTION_DAYS", 90, empty=0
)

# A scheduled message (send_at) still waiting this long after its time is not
# sent but fails as "late" (messaging/scheduled.py); 0 sends it however late.
BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES = env_int("BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES", 30)

# --- Announcements ------------------------------------------------------------
# Recipients per fan-out transaction.
BOTADMIN_ANNOUNCEMENT_BATCH_SIZE = env_int("BOTADMIN_ANNOUNCEMENT_BATCH_SIZE", 500)
# A run that starts this many seconds after its time is marked late.
BOTADMIN_ANNOUNCEMENT_LATE_SECONDS = env_int("BOTADMIN_ANNOUNCEMENT_LATE_SECONDS", 60)
# A fan-out with no progress for this long is restarted (its worker died).
BOTADMIN_ANNOUNCEMENT_STALL_SECONDS = env_int("BOTADMIN_ANNOUNCEMENT_STALL_SECONDS", 60)
# Largest uploaded announcement image.
BOTADMIN_UPLOAD_MAX_BYTES = env_int("BOTADMIN_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)

# --- Error reports to Sentry (off unless SENTRY_DSN is set) -------------------
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from botadmin.sentry import init_sentry

    init_sentry(SENTRY_DSN, environment=env.str("SENTRY_ENVIRONMENT", default="production"))
