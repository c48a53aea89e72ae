"""botadmin/env_booleans.py: every yes-or-no setting, written as an operator's
EnvironmentFile or .env may have it. Settings are read in a process of their own
(`manage.py check`, or a script printing them), as a service reads them."""

import json
import os
import re
import subprocess
import sys

import pytest

from devtools.processes import ROOT

SETTINGS = (ROOT / "botadmin/settings.py").read_text()
BOOLEAN_VARIABLES = re.findall(r"""\benv_bool\(\s*"([A-Z][A-Z0-9_]+)\"""", SETTINGS)
# LOG_SQL sets a logger's level rather than a setting of its name.
PRINT_BOOLEANS = """
import json, sys, django
from django.conf import settings
django.setup()
booleans = {name: getattr(settings, name) for name in sys.argv[1:]}
booleans["LOG_SQL"] = settings.LOGGING["loggers"]["django.db.backends"]["level"] == "DEBUG"
print(json.dumps(booleans))
"""


def _environment(tmp_path, **variables) -> dict[str, str]:
    """This process's environment without any yes-or-no setting (or a server's URL)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in BOOLEAN_VARIABLES
        and name not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")
    }
    return {**env, "DJANGO_SETTINGS_MODULE": "botadmin.settings", "BOTADMIN_VAR_DIR": str(tmp_path)}


def booleans_under(tmp_path, **variables) -> dict[str, bool]:
    names = [name for name in BOOLEAN_VARIABLES if name != "LOG_SQL"]
    out = subprocess.run(
        [sys.executable, "-c", PRINT_BOOLEANS, *names],
        env={**_environment(tmp_path), **variables},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_the_scan_finds_every_yes_or_no_setting():
    assert {"DEBUG", "BEHIND_HTTPS_PROXY", "LOG_SQL", "BOTADMIN_ALLOW_PRIVATE_URLS"} <= set(
        BOOLEAN_VARIABLES
    )
    assert not re.search(r"\benv\.bool\(|cast=bool", SETTINGS)


def test_each_accepted_word_reads_as_it_says_in_any_case(tmp_path):
    written = {"DEBUG": "Yes", "BEHIND_HTTPS_PROXY": " on ", "BOTADMIN_ALLOW_PRIVATE_URLS": "1"}
    written |= {"CELERY_TASK_ALWAYS_EAGER": "TRUE", "LOG_SQL": "y", "SECURE_HSTS_PRELOAD": "no"}

    booleans = booleans_under(tmp_path, **written)

    assert {name: booleans[name] for name in written} == {
        **dict.fromkeys(written, True),
        "SECURE_HSTS_PRELOAD": False,
    }
    switched_off = booleans_under(tmp_path, **dict.fromkeys(BOOLEAN_VARIABLES, "off"))
    assert not any(switched_off.values())


def test_a_yes_or_no_setting_left_empty_is_its_default(tmp_path):
    defaults = booleans_under(tmp_path)

    assert booleans_under(tmp_path, **dict.fromkeys(BOOLEAN_VARIABLES, " ")) == defaults
    assert not any(defaults.values())


@pytest.mark.parametrize(
    "name, value",
    [
        ("DEBUG", "ture"),  # was debug off, silently
        ("BEHIND_HTTPS_PROXY", "yes please"),  # was served without HTTPS redirects
        ("BOTADMIN_ALLOW_PRIVATE_URLS", "2"),
        ("LOG_SQL", "debug"),
    ],
)
def test_a_yes_or_no_setting_written_wrong_stops_start_up_naming_the_words_it_takes(
    tmp_path, name, value
):
    checked = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**_environment(tmp_path), name: value},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert checked.returncode != 0
    last_line = checked.stderr.strip().splitlines()[-1]
    assert last_line == (
        f"django.core.exceptions.ImproperlyConfigured: {name} must be one of "
        f"true, 1, yes, on, y (yes) or false, 0, no, off, n (no), not {value!r}"
    )
