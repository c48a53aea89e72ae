from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class ForwardingConfig(AppConfig):
    name = "forwarding"
    verbose_name = _("Forwarding")

    def ready(self):
        from messaging.signals import inbound_media_settled, inbound_message_stored

        # The one way a stored inbound message reaches the forwarder.
        inbound_message_stored.connect(_create_deliveries, dispatch_uid="forwarding-inbound-stored")
        # A media message held back for its copy goes out once the copy settled.
        inbound_media_settled.connect(_create_deliveries, dispatch_uid="forwarding-media-settled")
        # Every way of saving a bot (admin, createbot, setup) keeps its primary
        # webhook endpoint in line with Bot.webhook_url.
        post_save.connect(
            _sync_primary_endpoint, sender="conversations.Bot", dispatch_uid="webhook-primary"
        )
        # However an endpoint is created, it gets the messages stored from then on.
        post_save.connect(
            _catch_up_new_endpoint, sender="forwarding.WebhookEndpoint", dispatch_uid="webhook-new"
        )


def _sync_primary_endpoint(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw:  # loaddata
        return
    if update_fields is not None and "webhook_url" not in update_fields:
        return  # the instance's URL may be as read long ago: another save may have changed it
    from .endpoints import sync_primary_endpoint

    sync_primary_endpoint(instance)


def _catch_up_new_endpoint(sender, instance, created=False, raw=False, **kwargs):
    if created and not raw:
        from .endpoints import catch_up_new_endpoint

        transaction.on_commit(lambda: catch_up_new_endpoint(instance.pk))


def _create_deliveries(sender, message_ids, **kwargs):
    """Wake a worker that creates the messages' webhook deliveries (and sends them).

    Only a wake-up: a lost one is made good by the sweeper, which finds the
    messages still `forward_pending`."""
    from .tasks import forward_messages

    forward_messages.delay_on_commit(list(message_ids))
