from django.apps import AppConfig


class BotadminConfig(AppConfig):
    name = "botadmin"
    verbose_name = "botadmin"

    def ready(self):
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            sessions,  # noqa: F401  (ends a user's other sessions on logout)
        )
