import sys

from django.apps import AppConfig


class BotadminConfig(AppConfig):
    name = "botadmin"
    verbose_name = "botadmin"

    def ready(self):
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            metrics,
            sessions,  # noqa: F401  (ends a user's other sessions on logout)
        )

        # Every process that serves /metrics or counts for it passes here once, whatever
        # started it: gunicorn, a Celery worker, runserver, the AI bot gateway.
        if metrics.counts_for_long(sys.argv):
            metrics.long_running_started()
        else:  # a manage.py command that ends: its folder's gone commands' counts folded
            metrics.command_started()
