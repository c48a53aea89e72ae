"""Helpers the tests and the benchmarks share: child processes (a Celery worker,
the test database as a DATABASE_URL), a recording HTTP receiver, fakes of WeCom's
self-built application API and of the AI bot's long connection, an S3 server, bulk
inbound messages and the pinyin phrase table's generator; what `make run` starts its
processes with (make_run.py), when `make setup` collects the static files again
(collect_static.py), and what `make venv-prod` removes from .venv (unlocked_packages.py).

Not part of the product: nothing in the apps imports it.
"""
