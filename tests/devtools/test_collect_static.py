"""`make setup` (so `make run`) collects the static files again only when one changed.
With BOTADMIN_VAR_DIR in .env, which make cannot read, the Makefile looked for the manifest
in var/static and collectstatic ran at every start (20 s on a loaded machine)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from devtools.processes import ROOT

NOT_COPIED = (".venv", ".git", "var", "tests", "docs", "bench", "test-artifacts", ".env")


def checkout_copy(tmp_path: Path) -> Path:
    """The checkout as `make setup` sees it, with a .env of its own and the real .venv;
    its manage.py runs collectstatic only, so that only the static files are set up."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*NOT_COPIED, "__pycache__"))
    (copy / ".venv").symlink_to(ROOT / ".venv")
    (copy / "manage.py").write_text(MANAGE_PY)
    return copy


MANAGE_PY = """
import os, sys
from django.core.management import execute_from_command_line
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
if sys.argv[1] == "collectstatic":  # migrate, createcachetable, setup_demo: not tested here
    execute_from_command_line(sys.argv)
"""


def make_setup(checkout: Path) -> None:
    ignored = ("MAKE", "VIRTUAL_ENV", "BOTADMIN_VAR_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ignored)}
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", "venv", "setup"],
        cwd=checkout,
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_static_files_are_collected_again_only_when_one_changed_with_the_var_dir_in_dotenv(
    tmp_path,
):
    checkout = checkout_copy(tmp_path)
    var_dir = tmp_path / "var dir"  # quoted in .env, as django-environ reads it
    (checkout / ".env").write_text(f'BOTADMIN_VAR_DIR="{var_dir}"\n')
    manifest = var_dir / "static" / "staticfiles.json"

    def collected() -> bool:
        before = manifest.stat().st_mtime_ns if manifest.exists() else None
        make_setup(checkout)
        return manifest.stat().st_mtime_ns != before

    def newer_than_the_manifest(path: Path) -> None:
        later = manifest.stat().st_mtime_ns + 10**9
        os.utime(path, ns=(later, later))

    assert collected()  # the first start
    assert not (checkout / "var/static/staticfiles.json").exists()
    assert not collected()
    newer_than_the_manifest(checkout / "console/static/console/history.js")
    assert collected()
    assert not collected()
    newer_than_the_manifest(checkout / ".env")
    assert collected()
