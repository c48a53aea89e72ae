"""Every environment variable botadmin reads is documented in docs/configuration.md."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = [
    "botadmin",
    "conversations",
    "messaging",
    "announcements",
    "forwarding",
    "connectors",
    "console",
    "audit",
]
# Read by the code but not settings an operator chooses.
INTERNAL = {
    "DJANGO_SETTINGS_MODULE",  # set by manage.py, wsgi.py and celery.py
    "PROMETHEUS_MULTIPROC_DIR",  # derived from BOTADMIN_METRICS_DIR per process
    "PYTEST_XDIST_WORKER",  # set by pytest-xdist: one database per test process
}
READS = re.compile(
    r"""\benv(?:\.\w+|_int|_float)?\(\s*["'](?P<env>[A-Z][A-Z0-9_]+)["']"""
    r"""|\benviron(?:\.get\(|\.setdefault\(|\[)\s*["'](?P<environ>[A-Z][A-Z0-9_]+)["']"""
)


def variables_read() -> dict[str, str]:
    found = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            for match in READS.finditer(path.read_text()):
                name = match["env"] or match["environ"]
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_the_settings_it_should():
    found = variables_read()
    for name in (
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "WEB_CONCURRENCY",
        "LOG_FORMAT",
        "DELIVERY_MAX_ATTEMPTS",  # botadmin.env_numbers' env_int
        "BOTADMIN_READY_TIMEOUT",  # and env_float
    ):
        assert name in found


def test_every_variable_read_is_in_the_configuration_docs():
    documented = (ROOT / "docs/configuration.md").read_text()
    undocumented = {
        name: where
        for name, where in variables_read().items()
        if name not in INTERNAL and f"`{name}`" not in documented
    }
    assert not undocumented, f"document these in docs/configuration.md: {undocumented}"
