from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class ForwardingConfig(AppConfig):
    name = "forwarding"
    verbose_name = _("Forwarding")

    def ready(self):
        # Every way of saving a bot (admin, createbot, setup) keeps its primary
        # webhook endpoint in line with Bot.webhook_url.
        post_save.connect(
            _sync_primary_endpoint, sender="conversations.Bot", dispatch_uid="webhook-primary"
        )


def _sync_primary_endpoint(sender, instance, raw=False, **kwargs):
    if raw:  # loaddata
        return
    from .endpoints import sync_primary_endpoint

    sync_primary_endpoint(instance)
