"""botadmin/env_numbers.py: every number botadmin reads from the environment, left empty or
written wrong, as an operator's EnvironmentFile or .env may have it. Settings are read in a
process of their own (`manage.py check`, or a script printing them), as a service reads them.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from devtools.processes import ROOT

NUMBER_VARIABLES = re.findall(
    r"""\benv_(?:int|float)\(\s*"([A-Z][A-Z0-9_]+)\"""", (ROOT / "botadmin/settings.py").read_text()
)
# Read into DATABASES rather than a setting of their own name.
DATABASE_OPTIONS = {"SQLITE_BUSY_TIMEOUT", "CONN_MAX_AGE"}
PRINT_NUMBERS = """
import json, sys, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
numbers = {name: getattr(settings, name) for name in sys.argv[1:]}
numbers.update(SQLITE_BUSY_TIMEOUT=db["OPTIONS"]["timeout"], CONN_MAX_AGE=db["CONN_MAX_AGE"])
print(json.dumps(numbers))
"""


def _environment(tmp_path, **variables) -> dict[str, str]:
    """This process's environment without any number setting (or a server's URL), with
    `variables`; HSTS is read behind an HTTPS proxy only."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in NUMBER_VARIABLES
        and name not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DEBUG")
    }
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "botadmin.settings",
        "BOTADMIN_VAR_DIR": str(tmp_path),
        "BEHIND_HTTPS_PROXY": "1",
        **variables,
    }


def numbers_under(tmp_path, **variables) -> dict:
    names = [name for name in NUMBER_VARIABLES if name not in DATABASE_OPTIONS]
    out = subprocess.run(
        [sys.executable, "-c", PRINT_NUMBERS, *names],
        env=_environment(tmp_path, **variables),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def manage_py_check(tmp_path, **variables) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_environment(tmp_path, **variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_scan_finds_every_number_setting():
    assert len(NUMBER_VARIABLES) > 40
    assert {"BOTADMIN_AUDIT_RETENTION_DAYS", "DELIVERY_RETRY_BASE_DELAY"} <= set(NUMBER_VARIABLES)
    assert not re.search(r"\benv\.(int|float)\(", (ROOT / "botadmin/settings.py").read_text())


def test_the_retentions_documented_as_empty_or_0_start_and_keep_everything(tmp_path):
    """`BOTADMIN_AUDIT_RETENTION_DAYS=` stopped every service at start-up with a
    ValueError from int(); docs/configuration.md says empty keeps the audit log."""
    empty = {"BOTADMIN_AUDIT_RETENTION_DAYS": "", "BOTADMIN_CARD_TASK_ID_RETENTION_DAYS": " "}

    checked = manage_py_check(tmp_path, **empty)

    assert checked.returncode == 0, checked.stderr
    numbers = numbers_under(tmp_path, **empty)
    assert numbers["BOTADMIN_AUDIT_RETENTION_DAYS"] == 0  # messaging.retention: kept
    assert numbers["BOTADMIN_CARD_TASK_ID_RETENTION_DAYS"] == 0


def test_every_other_number_left_empty_is_its_default(tmp_path):
    defaults = numbers_under(tmp_path)

    empty = numbers_under(tmp_path, **dict.fromkeys(NUMBER_VARIABLES, ""))

    documented = {
        "BOTADMIN_AUDIT_RETENTION_DAYS": 0,
        "BOTADMIN_CARD_TASK_ID_RETENTION_DAYS": 0,
        "BOTADMIN_WEBHOOK_DELIVERED_RETENTION_DAYS": 0,
        "BOTADMIN_WEBHOOK_FAILED_RETENTION_DAYS": 0,
    }
    assert defaults["BOTADMIN_AUDIT_RETENTION_DAYS"] == 365
    assert empty == {**defaults, **documented}


def test_numbers_are_read_as_written(tmp_path):
    numbers = numbers_under(
        tmp_path,
        DELIVERY_MAX_ATTEMPTS=" 3 ",
        DELIVERY_RETRY_BASE_DELAY="1e3",  # django-environ read 13
        BOTADMIN_READY_TIMEOUT="0.25",
        BOTADMIN_MESSAGE_RETENTION_DAYS="90",
    )

    assert numbers["DELIVERY_MAX_ATTEMPTS"] == 3
    assert numbers["DELIVERY_RETRY_BASE_DELAY"] == 1000
    assert numbers["BOTADMIN_READY_TIMEOUT"] == 0.25
    assert numbers["BOTADMIN_MESSAGE_RETENTION_DAYS"] == 90


@pytest.mark.parametrize(
    "name, value, problem",
    [
        ("BOTADMIN_AUDIT_RETENTION_DAYS", "a year", "must be a whole number, not 'a year'"),
        ("DELIVERY_MAX_ATTEMPTS", "2.5", "must be a whole number, not '2.5'"),
        ("SQLITE_BUSY_TIMEOUT", "30s", "must be a whole number, not '30s'"),
        # django-environ's float kept the digits: 30 seconds, and `abc` a bare ValueError.
        ("DELIVERY_RETRY_BASE_DELAY", "30s", "must be a number, not '30s'"),
        ("BOTADMIN_READY_TIMEOUT", "nan", "must be a number, not 'nan'"),
    ],
)
def test_a_number_written_wrong_stops_start_up_naming_the_variable(tmp_path, name, value, problem):
    checked = manage_py_check(tmp_path, **{name: value})

    assert checked.returncode != 0
    last_line = checked.stderr.strip().splitlines()[-1]
    assert last_line == f"django.core.exceptions.ImproperlyConfigured: {name} {problem}"
    assert "invalid literal" not in checked.stderr
