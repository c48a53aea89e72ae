"""Which service a process is, from its command line: web (gunicorn), worker (a Celery
worker), beat (Celery beat) or other (manage.py commands and anything else). settings.py
gives each its own metrics folder (`metrics.ROLES`), before Django is set up: nothing
here imports Django.
"""

from __future__ import annotations

from pathlib import Path


def program(argv0: str) -> str:
    """The program a process runs, from its `sys.argv[0]`: the script's name, whatever its
    path (`/opt/botadmin/.venv/bin/gunicorn`: gunicorn), or the package a `python -m`
    runs (Python sets argv[0] to its `__main__.py`: `…/site-packages/gunicorn/__main__.py`)."""
    path = Path(argv0)
    if path.name == "__main__.py":
        return path.parent.name
    return path.name


def process_role(argv: list[str]) -> str:
    """web, worker, beat or other for a process started with `argv` (its `sys.argv`)."""
    name, args = program(argv[0] if argv else ""), argv[1:]
    if name == "gunicorn":
        return "web"
    if name == "celery":
        if "worker" in args:
            return "worker"
        if "beat" in args:
            return "beat"
    return "other"
