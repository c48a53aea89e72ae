"""`make setup` (and so `make run`): collectstatic, only when what it collects may have
changed since it last wrote its manifest: a file under static/ or an app's static/, the
installed packages (the admin's: a new lock), the settings or `.env`.

collectstatic took 2-3 s of every start (20 s on a loaded machine). The Makefile kept the
manifest as a make target, in `BOTADMIN_VAR_DIR` from the environment or var/: make cannot
read `.env`, so with `BOTADMIN_VAR_DIR` set there it looked in the wrong folder and
collected at every start. Here the manifest is where the settings put STATIC_ROOT, read
from the environment and `.env` as every process reads them. Only the settings are loaded
to decide (0.3 s); Django's apps only when collectstatic runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import django
from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin


def collected_from() -> Iterator[Path]:
    """The checkout's static files and what decides which files are collected, and where."""
    base = Path(settings.BASE_DIR)
    apps = (base / app.partition(".")[0] / "static" for app in settings.INSTALLED_APPS)
    for folder in (*map(Path, settings.STATICFILES_DIRS), *apps):
        yield from (path for path in folder.rglob("*") if path.is_file())
    yield from (base / "requirements.lock", base / "botadmin/settings.py", base / ".env")


def is_stale(manifest: Path) -> bool:
    """The manifest is missing, or older than a file it was made from (as make decides:
    a file that is not there, such as an absent .env, changes nothing)."""
    try:
        made = manifest.stat().st_mtime_ns
    except FileNotFoundError:
        return True
    return any(_mtime_ns(source) > made for source in collected_from())


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    if is_stale(Path(settings.STATIC_ROOT) / ManifestFilesMixin.manifest_name):
        django.setup()
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)


if __name__ == "__main__":
    main()
