"""Helpers the tests and the benchmarks share: child processes (a Celery worker,
the test database as a DATABASE_URL), a recording HTTP receiver and a fake
WeCom application API; what `make run` starts its processes with (make_run.py), and
what `make venv-prod` removes from .venv (unlocked_packages.py).

Not part of the product: nothing in the apps imports it.
"""
