"""Each service counts into a metrics folder of its own (web, worker, beat, other), told by
its command line however it was started: the virtualenv's script, a full path, or
`python -m`."""

import pytest

from botadmin.process_roles import process_role

VENV = "/opt/botadmin/.venv"
SITE = f"{VENV}/lib/python3.11/site-packages"
GUNICORN_ARGS = ["-c", "botadmin/gunicorn_conf.py", "botadmin.wsgi"]


@pytest.mark.parametrize(
    "argv",
    [
        [f"{VENV}/bin/gunicorn", *GUNICORN_ARGS],  # the systemd unit
        [".venv/bin/gunicorn", *GUNICORN_ARGS],  # the Procfile
        ["gunicorn", *GUNICORN_ARGS],  # found on PATH
        [f"{SITE}/gunicorn/__main__.py", *GUNICORN_ARGS],  # python -m gunicorn
    ],
    ids=["full path", "relative path", "on PATH", "python -m"],
)
def test_gunicorn_is_web_however_it_is_started(argv):
    assert process_role(argv) == "web"


@pytest.mark.parametrize(
    "program",
    [f"{VENV}/bin/celery", f"{SITE}/celery/__main__.py", "celery"],
    ids=["full path", "python -m", "on PATH"],
)
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-A", "botadmin", "worker", "--queues=media"], "worker"),
        (["-A", "botadmin", "worker", "--beat"], "worker"),  # beat inside a worker
        (["-A", "botadmin", "beat", "--schedule=var/celerybeat-schedule"], "beat"),
        (["-A", "botadmin", "inspect", "ping"], "other"),
    ],
    ids=["worker", "worker with beat", "beat", "inspect"],
)
def test_celery_is_worker_or_beat_by_its_command_however_it_is_started(program, args, expected):
    assert process_role([program, *args]) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["manage.py", "aibot_gateway"],
        [f"{VENV}/bin/python", "manage.py", "migrate"],  # argv[0] is the script, never python
        ["/srv/celery-hosts/botadmin/manage.py", "runserver"],  # "celery" in a folder's name
        ["/srv/gunicorn/botadmin/manage.py", "worker"],
        [f"{SITE}/pytest/__main__.py", "tests"],
        [],
    ],
    ids=["manage.py", "python manage.py", "celery folder", "gunicorn folder", "pytest", "empty"],
)
def test_anything_else_is_other(argv):
    assert process_role(argv) == "other"
