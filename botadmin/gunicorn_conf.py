"""Gunicorn settings used by `make run` and production (`-c botadmin/gunicorn_conf.py`)."""

import multiprocessing
import os

# honcho gives each process its own PORT; `make run` passes the web port as WEB_PORT.
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('WEB_PORT') or os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
graceful_timeout = 10
accesslog = "-"
errorlog = "-"
logger_class = "botadmin.logging.MaskingGunicornLogger"
# %(h)s is the client, as the proxies of BOTADMIN_TRUSTED_PROXIES name it (botadmin.logging).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def _trusted_proxies() -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    from django.conf import settings

    return ",".join(settings.BOTADMIN_TRUSTED_PROXIES)


# X-Forwarded-Proto (gunicorn's wsgi.url_scheme) is believed from the same proxies that
# X-Forwarded-For is (a --forwarded-allow-ips on the command line wins).
forwarded_allow_ips = _trusted_proxies()


def on_starting(server):
    """Metrics: this service's counts start again from zero (prometheus-client's
    multiprocess mode wants its folder emptied before the processes start); the
    control socket goes into var/."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    from django.conf import settings

    from botadmin import metrics

    metrics.clean_role_dir("web")
    metrics.clean_role_dir("other")  # files of finished manage.py commands
    # gunicorn's control socket (`gunicornc`) defaults to ~/.gunicorn/gunicorn.ctl: one
    # path for every gunicorn the user runs, so a second installation on the host took
    # over the first one's, and under systemd the botadmin user cannot create it in a
    # checkout it does not own. Each installation's own var/ (a --control-socket wins).
    if server.cfg.control_socket == server.cfg.settings["control_socket"].default:
        server.cfg.set("control_socket", str(settings.VAR_DIR / "gunicorn.ctl"))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Import the URLconf and its views before the first request: otherwise the
    first request each worker serves pays for it (about a second on a busy host)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (the lazy import is the point)
