from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = _("Messaging")

    def ready(self):
        from conversations.signals import bot_paused, bot_resumed

        # The one way a resumed bot's waiting messages are woken.
        bot_resumed.connect(_wake_resumed_bot, dispatch_uid="messaging-bot-resumed")
        bot_paused.connect(_count_waiting, dispatch_uid="messaging-bot-paused")


def _wake_resumed_bot(sender, bot, now, **kwargs) -> int:
    from .delivery_actions import wake_resumed_bot

    return wake_resumed_bot(bot, now)


def _count_waiting(sender, bot, **kwargs) -> int:
    from .delivery_actions import waiting_for

    return waiting_for(bot).count()
