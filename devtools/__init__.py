"""Helpers the tests and the benchmarks share: child processes (a Celery worker,
the test database as a DATABASE_URL) and a recording HTTP receiver.

Not part of the product: nothing in the apps imports it.
"""
