"""Helpers the tests and the benchmarks share: child processes (a Celery worker,
the test database as a DATABASE_URL), a recording HTTP receiver and a fake
WeCom application API; and what `make run` starts its processes with (make_run.py).

Not part of the product: nothing in the apps imports it.
"""
