"""Connector kind → class. Adding a connector: one module, one `register`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Connector

if TYPE_CHECKING:
    from conversations.models import Bot

_CONNECTORS: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    _CONNECTORS[cls.kind] = cls
    return cls


def connector_class(kind: str) -> type[Connector]:
    _load_builtin()
    return _CONNECTORS[kind]


def connector_for(bot: Bot) -> Connector:
    return connector_class(bot.connector)(bot)


def choices() -> list[tuple[str, str]]:
    _load_builtin()
    return [(kind, cls.label) for kind, cls in _CONNECTORS.items()]


def _load_builtin() -> None:
    from . import bridge, wecom_robot  # noqa: F401  (registration on import)
