"""The setup checklist on a bot's console page: what an operator does in WeCom's admin
console, step by step, with the values to paste there, the ones to copy from there, and
whether each step is done as far as botadmin can tell.

A connector that has one returns its steps from `Connector.setup_checklist()`
(`wecom_app_checklist`, `aibot_checklist`); the console draws them
(console/templates/console/bots/_setup_checklist.html). Texts are in the reader's
language: the steps are built for one request.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

DONE, TODO, FAILED, INFO = "done", "todo", "failed", "info"


@dataclass
class Value:
    """One value of a step: pasted into WeCom (`copy`), or copied from it into botadmin."""

    label: str
    value: str = ""
    # The bot secret it is (conversations.bot_secrets): shown masked, revealed to bot admins.
    secret: str = ""
    copy: bool = False
    note: str = ""


@dataclass
class Step:
    key: str
    title: str
    # Where in WeCom's admin console, in its own (Chinese) words.
    where: str = ""
    state: str = INFO
    status: str = ""
    at: datetime | None = None
    # The section of docs/bots.md (its GitHub anchor) that explains the step.
    docs: str = ""
    values: list[Value] = field(default_factory=list)
    warning: str = ""


class LastTest(Protocol):
    """A bot's last "Test the connection" (console/connection_tests.py)."""

    ok: bool
    reason: str  # a Reason where the connector worded it
    at: datetime


def parse_time(text) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text or ""))
    except ValueError:
        return None


def public_url(path: str) -> str:
    """`path` on this botadmin as the outside reaches it (BOTADMIN_PUBLIC_URL)."""
    return settings.BOTADMIN_PUBLIC_URL.rstrip("/") + path


def public_url_problem() -> str:
    """Why WeCom's servers cannot reach BOTADMIN_PUBLIC_URL, or "" when they may."""
    parts = urlsplit(settings.BOTADMIN_PUBLIC_URL)
    host = parts.hostname or ""
    try:
        inside = not ipaddress.ip_address(host).is_global
    except ValueError:
        inside = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
    if parts.scheme in ("http", "https") and host and not inside:
        return ""
    return _(
        "BOTADMIN_PUBLIC_URL is %(url)s, which WeCom's servers cannot reach: set it to this "
        "server's public address (e.g. https://botadmin.example.com) and restart botadmin."
    ) % {"url": settings.BOTADMIN_PUBLIC_URL}
