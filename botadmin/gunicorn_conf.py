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
# The longest request line gunicorn takes: its maximum (the default is 4094), so a long
# query string (PrometheusAlert's `wxurl=…`) reaches botadmin and its JSON answer instead
# of gunicorn's HTML 414. A longer one, and a request gunicorn cannot parse (a malformed
# Content-Length), still get gunicorn's own HTML page: it has no setting for that page
# (README, "What gunicorn answers itself").
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
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Import the URLconf and its views before the first request: otherwise the
    first request each worker serves pays for it (about a second on a busy host)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (the lazy import is the point)
