"""Each service counts into a metrics folder of its own (web, worker, beat, other), told by
its command line however it was started: the virtualenv's script, a full path, or
`python -m`."""

import pytest

from botadmin.process_roles import process_role, worker_pool

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
        [f"{SITE}/gunicorn/app/wsgiapp.py", *GUNICORN_ARGS],  # python -m gunicorn.app.wsgiapp
        ["/usr/bin/gunicorn3", *GUNICORN_ARGS],  # Debian's package before bookworm
    ],
    ids=["full path", "relative path", "on PATH", "python -m", "python -m wsgiapp", "gunicorn3"],
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
        (["-A", "botadmin", "beat", "--loglevel=INFO"], "beat"),  # the Procfile, the unit
        (["-A", "botadmin", "beat", "--schedule=var/celerybeat-schedule"], "beat"),  # before
        (["-A", "botadmin", "inspect", "ping"], "other"),
    ],
    ids=["worker", "worker with beat", "beat", "beat with its schedule", "inspect"],
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
    ids=[
        "manage.py",
        "python manage.py",
        "celery folder",
        "gunicorn folder",
        "pytest",
        "empty",
    ],
)
def test_anything_else_is_other(argv):
    assert process_role(argv) == "other"


@pytest.mark.parametrize(
    ("argv", "pool"),
    [
        (["celery", "-A", "botadmin", "worker", "--pool=prefork"], "prefork"),
        (["celery", "-A", "botadmin", "worker", "--pool", "prefork"], "prefork"),
        (["celery", "-A", "botadmin", "worker", "-P", "prefork", "-c", "4"], "prefork"),
        (["celery", "-A", "botadmin", "worker", "-Pthreads"], "threads"),
        ([f"{SITE}/celery/__main__.py", "--app=botadmin", "worker", "-P", "solo"], "solo"),
        # celery's own options before its command, one with a value that reads as one
        (
            [
                "celery",
                "--workdir",
                "/srv/worker",
                "-q",
                "-A",
                "botadmin",
                "worker",
                "-P",
                "prefork",
            ],
            "prefork",
        ),
        (["celery", "-A", "botadmin", "worker", "-P", "threads", "--pool=prefork"], "prefork"),
        (["celery", "-A", "botadmin", "worker", "--queues=media"], None),
        (["celery", "-A", "botadmin", "beat", "-P", "prefork"], None),
        (["manage.py", "runserver", "-P", "prefork"], None),
    ],
    ids=[
        "--pool=",
        "--pool",
        "-P",
        "-Pname",
        "python -m, --app=",
        "celery's options first",
        "the last one",
        "none named",
        "beat",
        "not celery",
    ],
)
def test_the_pool_a_workers_command_line_names_is_read_from_it(argv, pool):
    """settings.py makes it CELERY_WORKER_POOL: Celery took --pool=prefork for its own default
    and used the setting instead."""
    assert worker_pool(argv) == pool
