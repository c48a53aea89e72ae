"""`{% setup_steps as steps %}`: the setup checklist of the bot in the context, from its
connector (connectors/setup_checklist.py); [] when it has none."""

from django import template

from connectors.registry import CONNECTORS

register = template.Library()


@register.simple_tag(takes_context=True)
def setup_steps(context) -> list:
    bot = context["bot"]
    connector = CONNECTORS.get(bot.connector)
    return connector(bot).setup_checklist(context.get("last_test")) if connector else []
