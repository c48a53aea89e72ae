from django.apps import AppConfig


class BotadminConfig(AppConfig):
    name = "botadmin"
    verbose_name = "botadmin"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
