"""The contract every connector follows.

A connector is how a message really reaches WeCom for one bot: the bridge
protocol to an agent, WeCom's group-robot webhook, later WeCom's application
API. It declares what it can send, turns a normalised message into its wire
call and classifies the outcome; it never touches the database. The delivery
engine (messaging) and the contact sync (conversations) call it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from conversations.models import Bot, Conversation


class Outcome(enum.StrEnum):
    SENT = "sent"  # delivered
    RETRY = "retry"  # not delivered, try again later
    FAILED = "failed"  # refused for good
    UNCERTAIN = "uncertain"  # may have been delivered; retrying could post twice


@dataclass
class SendResult:
    outcome: Outcome
    detail: str = ""  # errmsg, error text or the start of an unexpected answer
    upstream_msgid: str = ""
    http_status: int | None = None
    errcode: int | None = None
    retry_after: float | None = None  # seconds, when the other side said so
    # Set when the whole bot must stop sending (bad token, robot removed, risk
    # control): the engine pauses the bot with this reason.
    account_problem: str = ""


@dataclass
class ContactPage:
    items: list[dict] = field(default_factory=list)
    next_cursor: str | None = None


class ConnectorError(Exception):
    """A call that did not work (contact listing, connection check)."""


class Connector:
    kind: ClassVar[str]
    label: ClassVar[str]
    supported_msgtypes: ClassVar[frozenset[str]]
    # Whether a text with only mentions and no content can be sent.
    allows_mentions_only: ClassVar[bool] = False
    # Whether repeating a send after a lost answer is safe (the other side dedupes).
    idempotent: ClassVar[bool] = False
    # Whether users and groups can be listed from the other side.
    lists_contacts: ClassVar[bool] = False

    def __init__(self, bot: Bot):
        self.bot = bot

    def send(self, message_id: str, conversation: Conversation, body: dict) -> SendResult:
        raise NotImplementedError

    def fetch_contacts(self, kind: str, cursor: str | None = None) -> ContactPage:
        """One page of `user` or `group` contacts; raises ConnectorError."""
        raise ConnectorError(f"{self.label} cannot list contacts")

    def check_contact(self, conversation: Conversation) -> bool:
        """Whether an operator-entered contact still works (connectors that cannot list).

        False means gone for good (e.g. the robot was removed); raises
        ConnectorError when the answer is unknown.
        """
        raise ConnectorError(f"{self.label} cannot check contacts")

    def check(self) -> str:
        """Test the connection; return a short description or raise ConnectorError."""
        raise NotImplementedError
