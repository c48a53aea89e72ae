"""Which service a process is, from its command line: web (gunicorn), worker (a Celery
worker), beat (Celery beat) or other (manage.py commands and anything else). settings.py
gives each its own metrics folder (`metrics.ROLES`), and a worker the pool its command
line names (`worker_pool`), before Django is set up: nothing here imports Django.
"""

from __future__ import annotations

from pathlib import Path

# gunicorn's script (`gunicorn3` in Debian's packages before bookworm), and the module its
# script runs, which `python -m gunicorn.app.wsgiapp` starts directly.
WEB_PROGRAMS = ("gunicorn", "gunicorn3")
WEB_MODULE_FILE = ("gunicorn", "app", "wsgiapp.py")

# The options `celery` itself takes before its command (celery/bin/celery.py) that are
# followed by a value when not written `--name=value`: `celery -A botadmin worker`.
CELERY_OPTIONS_WITH_VALUE = frozenset(
    ("-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir")
)


def program(argv0: str) -> str:
    """The program a process runs, from its `sys.argv[0]`: the script's name, whatever its
    path (`/opt/botadmin/.venv/bin/gunicorn`: gunicorn), or the package a `python -m`
    runs (Python sets argv[0] to its `__main__.py`: `…/site-packages/gunicorn/__main__.py`)."""
    path = Path(argv0)
    if path.name == "__main__.py":
        return path.parent.name
    if path.parts[-len(WEB_MODULE_FILE) :] == WEB_MODULE_FILE:
        return "gunicorn"  # python -m gunicorn.app.wsgiapp: argv[0] is that module's file
    return path.name


def celery_command(args: list[str]) -> int | None:
    """Where the command of a `celery` command line (`worker`, `beat`, `inspect`…) is in its
    arguments: the first word that is neither one of celery's own options nor an option's
    value (`celery -A botadmin worker`, `celery --app=botadmin worker`); None when none."""
    at = 0
    while at < len(args):
        if args[at] in CELERY_OPTIONS_WITH_VALUE:
            at += 2
        elif args[at].startswith("-"):
            at += 1
        else:
            return at
    return None


def process_role(argv: list[str]) -> str:
    """web, worker, beat or other for a process started with `argv` (its `sys.argv`)."""
    name, args = program(argv[0] if argv else ""), argv[1:]
    if name in WEB_PROGRAMS:
        return "web"
    if name == "celery":
        at = celery_command(args)
        if at is not None and args[at] in ("worker", "beat"):
            return args[at]
    return "other"


def worker_pool(argv: list[str]) -> str | None:
    """The pool a Celery worker's command line names (`--pool=prefork`, `--pool prefork`,
    `-P prefork`, `-Pprefork`; the last one, as Celery reads them), None when it names
    none or the process is no worker. settings.py makes it CELERY_WORKER_POOL: Celery
    cannot tell `--pool=prefork` from its own default and took the setting instead."""
    if process_role(argv) != "worker":
        return None
    args = argv[1:]
    args = args[celery_command(args) + 1 :]
    pool = None
    for at, word in enumerate(args):
        if word == "--":
            break
        if word in ("-P", "--pool") and at + 1 < len(args):
            pool = args[at + 1]
        elif word.startswith("--pool="):
            pool = word.removeprefix("--pool=")
        elif word.startswith("-P") and not word.startswith("--"):
            pool = word.removeprefix("-P")
    return pool or None
