"""Gunicorn settings used by `make run` and production (`-c botadmin/gunicorn_conf.py`)."""

import multiprocessing
import os
from pathlib import Path

import environ

# HOST, PORT, WEB_CONCURRENCY and WEB_THREADS come from the environment or `.env` next
# to manage.py, as every setting does (botadmin/settings.py reads the same file the same
# way: the environment wins). They are read here, before gunicorn imports Django: `.env`
# was once ignored for them. (The Procfile of `make run` gives the web server its port as
# PORT; honcho gives every process a PORT of its own.)
environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)

from botadmin.env_numbers import env_int  # noqa: E402  (after .env: it reads nothing itself)

_host = os.environ.get("HOST", "").strip() or "127.0.0.1"
_port = env_int("PORT", 8000)
# An IPv6 address is bracketed (HOST=:: listens on every interface, both families).
bind = f"[{_host}]:{_port}" if ":" in _host and not _host.startswith("[") else f"{_host}:{_port}"
workers = env_int("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2))
threads = env_int("WEB_THREADS", 4)
timeout = 30
graceful_timeout = 10
accesslog = "-"
errorlog = "-"
logger_class = "botadmin.logging.MaskingGunicornLogger"
# The longest request line gunicorn takes: its maximum (the default is 4094), so a long
# query string (PrometheusAlert's `wxurl=…`) reaches botadmin and its JSON answer instead
# of gunicorn's HTML 414. A longer one, and a request gunicorn cannot parse (a malformed
# Content-Length), still get gunicorn's own HTML page: it has no setting for that page
# (docs/install.md, "What gunicorn answers itself").
limit_request_line = 8190
# %(h)s is the client, as the proxies of BOTADMIN_TRUSTED_PROXIES name it (botadmin.logging).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def _trusted_proxies() -> str:
    """BOTADMIN_TRUSTED_PROXIES as client_address reads them: a network written with host
    bits (10.0.3.7/24), which gunicorn would refuse, as its network; and each IPv4 one
    also as IPv4-mapped IPv6, the form a dual-stack listener (HOST=::) sees its peers in."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    from botadmin.networks import setting_networks

    networks = setting_networks("BOTADMIN_TRUSTED_PROXIES")
    mapped = [
        f"::ffff:{network.network_address}/{96 + network.prefixlen}"
        for network in networks
        if network.version == 4
    ]
    return ",".join([*(str(network) for network in networks), *mapped])


# gunicorn believes what a peer says about the request from the proxies whose
# X-Forwarded-For botadmin believes (a --forwarded-allow-ips on the command line wins),
# and of it no more than botadmin does (botadmin/client_address.py): the scheme from
# X-Forwarded-Proto alone (gunicorn also takes X-Forwarded-Ssl and X-Forwarded-Protocol,
# which a proxy passes on from the client unless told to drop them), and no SCRIPT_NAME
# or PATH_INFO header (botadmin is not served under a path prefix).
forwarded_allow_ips = _trusted_proxies()
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
forwarder_headers = ""


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
    """A web worker gone (replaced after its timeout or a crash, or stopped): its live
    gauges go, its counters stay (`metrics.process_gone`)."""
    from botadmin import metrics

    metrics.process_gone(worker.pid)


def post_worker_init(worker):
    """Import the URLconf and its views before the first request: otherwise the
    first request each worker serves pays for it (about a second on a busy host).
    (The metrics known in advance were listed at 0 as Django started: botadmin/apps.py.)"""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (the lazy import is the point)
