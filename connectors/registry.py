"""Connector kind → class: the one list of connectors, imported once.

Adding a connector: write its module, add its class to `CONNECTORS` below.
`Bot.connector`'s choices, the admin, `createbot`, validation and delivery
all read this mapping; nothing else names a kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Connector
from .bridge import BridgeConnector
from .wecom_aibot import WeComAIBotConnector
from .wecom_app import WeComAppConnector
from .wecom_robot import WeComRobotConnector

if TYPE_CHECKING:
    from conversations.models import Bot

CONNECTORS: dict[str, type[Connector]] = {
    cls.kind: cls
    for cls in (BridgeConnector, WeComRobotConnector, WeComAppConnector, WeComAIBotConnector)
}
# A new bot's connector when none is chosen (the `make run` demo is a bridge bot).
DEFAULT_KIND = BridgeConnector.kind


def connector_class(kind: str) -> type[Connector]:
    """The class of a kind; KeyError for a kind no connector has."""
    return CONNECTORS[kind]


def connector_for(bot: Bot) -> Connector:
    return connector_class(bot.connector)(bot)


def choices() -> list[tuple[str, str]]:
    return [(kind, cls.label) for kind, cls in CONNECTORS.items()]
