"""The contract every connector follows (docs/connectors.md explains it in full).

A connector is how a message really reaches WeCom for one bot: the bridge
protocol to an agent, WeCom's group-robot webhook, WeCom's application API.
Its class owns everything about its channel — label, byte limits, the
msgtypes it sends natively and what it converts the others into, the images
it accepts, the bot settings it needs, its pacing — so nothing outside
`connectors/` names a connector kind. It turns a normalised message into its
wire call and classifies the outcome; it never touches the database. The
delivery engine (messaging) and the contact sync (conversations) call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from django import forms
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from urllib3.exceptions import NameResolutionError, NewConnectionError, ProxyError

from botadmin import http, http_failures, reasons
from botadmin.forms import NoLabelSuffix
from botadmin.reasons import Reason

from .images import is_jpg_or_png
from .voice import amr_seconds, is_amr

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from django.utils.functional import Promise

    from conversations.models import Bot, Conversation

    from .setup_checklist import LastTest

# Every msgtype `/api/send` accepts (messaging.schemas.MSGTYPES is the same set).
ALL_MSGTYPES = frozenset(
    {
        "text",
        "markdown",
        "markdown_v2",
        "link",
        "image",
        "miniprogram",
        "news",
        "file",
        "voice",
        "template_card",
    }
)
# WeCom refuses media of 5 bytes or less (the app's media/upload, a robot's upload_media:
# "> 5 bytes", shared/spec/wecom.md section 1): `downloads.download_media(min_bytes=…)`
# says so first.
MEDIA_MIN_BYTES = 6


class Outcome(models.TextChoices):
    """How a send ended: a connector's answer, and what a delivery attempt records."""

    SENT = "sent", _("Sent")  # delivered
    RETRY = "retry", _("Retry later")  # not delivered, try again later
    FAILED = "failed", _("Failed for good")  # refused for good
    UNCERTAIN = "uncertain", _("Uncertain")  # may have been delivered; retrying could post twice


@dataclass
class SendResult:
    outcome: Outcome
    # The other side's errmsg or the start of an unexpected answer, as it came; or our
    # words about it as a botadmin.reasons.Reason (translated where operators read it).
    # Operators read it: a connector whose other side is at an address a bot admin
    # chooses (the bridge's agent) keeps an answer's body out, for its log only.
    detail: str = ""
    upstream_msgid: str = ""
    http_status: int | None = None
    errcode: int | None = None
    retry_after: float | None = None  # seconds, when the other side said so
    # Set when the whole bot must stop sending (bad token, robot removed, risk
    # control): the engine pauses the bot with this reason.
    account_problem: str = ""
    # With RETRY: nothing may go out before then (a daily cap of the other side is
    # reached; set by the delivery engine, messaging/delivery_caps.py). The message waits
    # for it whatever its retry schedule says, and is never given up for it.
    hold_until: datetime | None = None


@dataclass(frozen=True)
class DailyCap:
    """How much the other side takes a day, past which it drops what is sent without a
    word (`Connector.daily_caps`); the delivery engine counts it (messaging/delivery_caps.py)."""

    key: str  # what is counted: the same for every bot sending through the same account
    limit: int  # uses a day
    what: str  # a Reason naming it with its limit, e.g. "WeCom's daily cap of 10,000 …"
    zone: str  # the IANA time zone whose calendar day it counts (its midnight resets it)
    zone_name: str  # a Reason naming that zone's time for operators ("China time")
    uses: int = 1  # how much one send to the conversation uses (e.g. its recipients)


@dataclass
class ContactPage:
    items: list[dict] = field(default_factory=list)
    next_cursor: str | None = None


@dataclass(frozen=True)
class ContactCheck:
    """What checking one operator-entered contact found (`Connector.check_contacts`)."""

    conversation: Conversation
    # True: it works; False: gone for good (e.g. the robot was removed); None: no clear
    # answer this time (the other side busy or unreachable, out of time), so it is left
    # as it was and checked again by the next sync.
    works: bool | None
    reason: str = ""  # why `works` is None, a botadmin.reasons.Reason


class ConnectorError(Exception):
    """A call that did not work (contact listing, connection check, a media fetch to retry).

    Its text is a classification an operator may see and the audit log may
    keep: never the other side's answer, which could be any internal
    service's page when an address is wrong. What the answer said goes in
    `detail`, for the server's log only. Word it as a `botadmin.reasons.Reason`
    (the contact sync, "Test the connection" and the media archive keep it with
    `reasons.of(error)` and show it in the operator's language).

    `account_problem`, as a send's (`SendResult.account_problem`): the other side refused
    the bot's credentials, worded for the operator with what to check; the bot's pages
    show it until a later call succeeds (conversations/refusals.py).
    """

    def __init__(self, message: str, *, detail: str = "", account_problem: str = ""):
        super().__init__(message)
        self.detail = detail
        self.account_problem = account_problem


class StillConnecting(ConnectorError):
    """The connection is being made for the first time (WeCom has not answered the
    subscription yet): "Test the connection" can say neither that it works nor that it
    fails, and says to try again in a few seconds."""


class MediaGone(ConnectorError):
    """The source cannot give this media any more: retrying will not help."""


class ChatIdTaken(ConnectorError):
    """create_group was given a chatid that already names a group chat."""


# WeCom refuses a template card whose task_id the bot (an app, an AI bot) used before, or
# that needs one and has none. Delivery reserves each card's task_id for its message
# (messaging/card_task_ids.py), so this is a card another client of the bot sent, or one
# older than that record: sending it again cannot help.
CARD_TASK_ID_ERRCODE = 42014


def card_task_id_refused(answer: str) -> Reason:
    """Why WeCom refused the card (its `answer`, errcode and errmsg), and what to do."""
    refused = gettext_noop(
        "WeCom refuses the card's task_id (%(answer)s): the bot used it before (on a card "
        "another client of the bot sent, or before botadmin's record of used task_ids), or "
        "the card needs one. Send the card with a new task_id."
    )
    return Reason(refused, answer=answer)


def too_large(max_bytes: int) -> Reason:
    """Why media was not fetched: more than `max_bytes`."""
    return Reason(gettext_noop("larger than the %(limit)s bytes media limit"), limit=max_bytes)


@dataclass
class MediaRef:
    """What a received message says about its media, for `Connector.fetch_media`."""

    msgid: str  # the message's id at the source (its upstream msgid)
    conversation_id: str
    msgtype: str
    cdn_type: str  # the reference as the message carried it
    cdn: str
    fields: dict = field(default_factory=dict)  # the msgtype's whole object


@dataclass
class FetchedMedia:
    content: bytes
    declared_type: str = ""  # what the source said; the archive types bytes by content
    name: str = ""


@dataclass(frozen=True)
class Limits:
    """Byte limits (UTF-8) of one connector's messages, checked before a message is stored."""

    text: int
    markdown: int  # markdown and markdown_v2 content
    title: int  # link and news article titles are cut, as WeCom does; mini program titles refused
    description: int  # longer descriptions are cut, as WeCom does
    image: int  # raw bytes of one image (base64 bodies and uploads)
    file: int = 20 * 1024 * 1024  # raw bytes of one file, where the connector sends files
    voice: int = 2 * 1024 * 1024  # raw bytes of one AMR voice, where the connector sends voice
    voice_seconds: float | None = None  # the longest voice it sends, when it has a limit


class NoSettings(NoLabelSuffix, forms.Form):
    """The settings form of a connector that needs nothing beyond the bot itself."""


class Connector:
    kind: ClassVar[str]  # stored in Bot.connector; never change it once bots use it
    label: ClassVar[str | Promise]  # gettext_lazy: shown in the admin, console and errors
    # One sentence on what it is and needs, under its tab on the console's "Create a bot".
    summary: ClassVar[str | Promise] = ""
    # Its section of docs/bots.md (the heading's anchor), linked next to the summary.
    docs_section: ClassVar[str] = ""
    # The section of docs/bots.md that says where in WeCom each value it asks for is
    # found: its settings by field name, and `robot_key` for a group's robot key. The
    # console links it from the field's help text.
    field_docs: ClassVar[dict[str, str]] = {}
    # What this connector sends as it is; any other msgtype is converted
    # (`conversions`) or refused with 40008. Per bot: see `msgtypes()`.
    native_msgtypes: ClassVar[frozenset[str]]
    # msgtype → the msgtypes it may become, in order of preference; a target
    # that is not native is converted further (connectors/conversions.py).
    conversions: ClassVar[dict[str, tuple[str, ...]]] = {}
    limits: ClassVar[Limits]
    # Pillow format names of the images it sends ("JPEG", "PNG", "GIF", "WEBP");
    # empty: it sends no image at all.
    image_formats: ClassVar[frozenset[str]] = frozenset({"JPEG", "PNG"})
    # Whether a text with only mentions and no content can be sent.
    allows_mentions_only: ClassVar[bool] = False
    # Whether repeating a send after a lost answer is safe (the other side dedupes).
    idempotent: ClassVar[bool] = False
    # Whether users and groups can be listed from the other side.
    lists_contacts: ClassVar[bool] = False
    # Whether the other side reports the messages the bot receives (which webhooks
    # forward): a group robot only posts, and its bot page says its webhooks get nothing.
    receives_messages: ClassVar[bool] = True
    # The kinds of conversation it posts to (Conversation.Kind values), the first one
    # the default of a conversation entered by hand: a group robot posts into groups only.
    conversation_kinds: ClassVar[tuple[str, ...]] = ("group", "user")
    # Whether operators enter its conversations by hand (e.g. a group robot's
    # groups with their keys), checked by `check_contacts` on sync.
    enters_contacts: ClassVar[bool] = False
    # A new bot's `rate_limit_per_minute` (pacing shared by all workers).
    default_rate_limit: ClassVar[int] = 20
    # Whether each of its conversations posts through a key of its own
    # (Conversation.robot_key, a group robot's): the forms that enter one require it
    # and read it with `robot_key_from`.
    needs_robot_key: ClassVar[bool] = False
    # Whether a long connection it holds (the gateway's, recorded in BotConnection)
    # reports its state, rather than a connection test asking the other side.
    holds_long_connection: ClassVar[bool] = False
    # The bot settings it needs, with their validation: the admin, `createbot`
    # and Bot.clean() all use this form. A field named like a Bot column
    # (agent_url, agent_token) is stored there, any other in
    # Bot.connector_settings. A PasswordInput field is a secret: masked,
    # write-only in the admin.
    settings_form: ClassVar[type[forms.Form]] = NoSettings
    # Settings botadmin generates when they are left empty (createbot prints them).
    generated_settings: ClassVar[dict[str, Callable[[], str]]] = {}
    # Whether botadmin can create group chats through it (`create_group`).
    creates_groups: ClassVar[bool] = False
    # The setup guide on the console's bot page: a template given `bot`,
    # `connector`, `state` (Bot.connector_state), `is_bot_admin` and `setup_url`.
    # The generic one lists what the connector learned.
    setup_guide: ClassVar[str] = "connectors/guides/generic.html"
    # How long the source keeps received media (`fetch_media`): the archive
    # retries a failed fetch with growing waits until then.
    media_lifetime: ClassVar[timedelta] = timedelta(days=1)
    # Whether a gateway process holds a long connection for its bots
    # (conversations.connections: lease and state, shown on the bot's page).
    long_connection: ClassVar[bool] = False
    # Whether a message may answer an inbound one (`reply_to`, its upstream msgid):
    # `send` then gets the body with `reply_to` and decides how to answer.
    replies: ClassVar[bool] = False
    # The template card types it sends (`card_type`), when not every type WeCom has.
    card_types: ClassVar[frozenset[str] | None] = None
    # Whether its template cards may carry an `action_menu` (its clicks come back by callback).
    card_action_menus: ClassVar[bool] = True
    # Whether the other side refuses a template card whose task_id the bot used before
    # (a WeCom app): delivery reserves each part's task_id, or a fresh one, before
    # `send` (messaging/card_task_ids.py), so `send` gets the task_id to use.
    unique_card_task_ids: ClassVar[bool] = False
    # Whether the other side opens a link written without a scheme (`www.qq.com`, the
    # example of WeCom's robot documentation): it gets a link's or news article's `url`
    # as written; any other connector gets `http://` + it (botadmin/links.py).
    opens_bare_links: ClassVar[bool] = False

    def __init__(self, bot: Bot):
        self.bot = bot
        # The contact sync's "still working" (conversations.sync): a connector whose one
        # page takes many calls to the other side (a user/get per member) calls it between
        # two of them, from the thread running the sync, so that a long page is not taken
        # for an abandoned sync. It may raise to stop the work (the sync was given up).
        self.still_working: Callable[[], None] = _nothing
        # What the last `check()` found about each operator-entered contact it asked
        # about (a group robot's keys): the connection test keeps it as the contact
        # sync keeps its own checks (conversations.sync.record_key_checks).
        self.checked_contacts: list[ContactCheck] = []

    def setup_checklist(self, last_test: LastTest | None = None) -> list:
        """The steps of its setup checklist on the console's bot page
        (`connectors.setup_checklist.Step`), in the reader's language; [] for none.
        `last_test`: the bot's last "Test the connection", which a step may go by."""
        return []

    @classmethod
    def syncs_contacts(cls) -> bool:
        """Whether a contact sync can do anything: list contacts or check entered ones."""
        return cls.lists_contacts or cls.enters_contacts

    @classmethod
    def english_label(cls) -> str:
        """The label in English, for API errmsgs and stored notes (which are English)."""
        with translation.override("en"):
            return str(cls.label)

    @classmethod
    def printed_settings(cls, bot: Bot) -> dict[str, str]:
        """What `createbot` prints besides the bot (e.g. values to paste into WeCom)."""
        return {}

    @classmethod
    def setting_defaults(cls) -> dict[str, tuple[str, str]]:
        """What a setting left empty stands for: its name → (the value used instead, where
        that comes from in the reader's language). The setup guide shows the value used."""
        return {}

    @classmethod
    def robot_key_from(cls, entered: str) -> str:
        """The robot key in what an operator entered; raises ValidationError."""
        return entered.strip()

    def msgtypes(self) -> frozenset[str]:
        """The msgtypes this bot sends natively (a bridge agent may announce more)."""
        return self.native_msgtypes

    @staticmethod
    def conversation_gap(kind: str) -> float:
        """Seconds the other side wants between two messages to one conversation of this kind."""
        return 0.0

    def daily_caps(self, conversation: Conversation) -> list[DailyCap]:
        """The daily caps one send to the conversation counts against, `uses` each."""
        return []

    def shared_daily_caps(self) -> list[DailyCap]:
        """The daily caps all the bot's sends share (the bot's page shows today's use)."""
        return []

    @staticmethod
    def pace_key(conversation: Conversation) -> str:
        """What `conversation_gap` is kept per: by default each conversation on its own.
        Conversations that reach the other side through one account of its, which it
        counts together (a group robot's key), give the same key, and share one gap."""
        return str(conversation.pk)

    def send(self, message_id: str, conversation: Conversation, body: dict) -> SendResult:
        """Send a body whose msgtype is in `msgtypes()` (conversions already applied)."""
        raise NotImplementedError

    def fetch_contacts(self, kind: str, cursor: str | None = None) -> ContactPage:
        """One page of `user` or `group` contacts; raises ConnectorError."""
        cannot = gettext_noop("%(connector)s cannot list contacts")
        raise ConnectorError(Reason(cannot, connector=reasons.label(self.label)))

    def check_contacts(self, conversations: Sequence[Conversation]) -> Iterator[ContactCheck]:
        """Whether each operator-entered contact still works (connectors that cannot list),
        in any order, as the answers come, within a time budget of the connector's.

        One contact's unclear answer is its `ContactCheck` (works None), not an error;
        raises ConnectorError when the connector cannot check contacts at all.
        """
        cannot = gettext_noop("%(connector)s cannot check contacts")
        raise ConnectorError(Reason(cannot, connector=reasons.label(self.label)))

    def create_group(self, name: str, owner: str, members: list[str], chatid: str = "") -> str:
        """Create a group chat; its id. Raises ConnectorError (ChatIdTaken when `chatid`
        already names a chat)."""
        cannot = gettext_noop("%(connector)s cannot create group chats")
        raise ConnectorError(Reason(cannot, connector=reasons.label(self.label)))

    def check(self) -> str:
        """Test the connection; return a short description or raise ConnectorError."""
        raise NotImplementedError

    def fetch_media(self, ref: MediaRef, max_bytes: int) -> FetchedMedia:
        """The bytes of a received message's media (messaging/media_fetch.py calls it).

        Raises MediaGone when they cannot be had any more (also for more than
        `max_bytes`), ConnectorError when a later try may work.
        """
        cannot = gettext_noop("%(connector)s cannot fetch received media")
        raise MediaGone(Reason(cannot, connector=reasons.label(self.label)))

    def learn(self) -> dict[str, Any] | None:
        """What the other side says about itself, kept in Bot.connector_state.

        Called on contact sync and "test the connection"; None when there is
        nothing to ask. Raises ConnectorError when asking failed.
        """
        return None


def _nothing() -> None:
    pass


class SendRefused(Exception):
    """A send that ends before its message goes out, with this result (a media download
    or upload that failed: nothing reached the chat, so RETRY is always safe)."""

    def __init__(self, result: SendResult):
        super().__init__(result.detail)
        self.result = result

    @classmethod
    def of(cls, outcome: Outcome, detail: str) -> SendRefused:
        return cls(SendResult(outcome, detail))


# The words for the media a reason names (an msgtype, or "media"), translated where shown.
MEDIA_WORDS = {
    "media": gettext_noop("media"),
    "image": gettext_noop("image"),
    "file": gettext_noop("file"),
    "voice": gettext_noop("voice"),
}


def media_word(kind: str) -> str:
    """The word for a kind of media inside a Reason: a Reason itself, so "image" reads
    图片 in Chinese instead of staying the identifier; an unknown kind as it is."""
    return Reason(MEDIA_WORDS[kind]) if kind in MEDIA_WORDS else kind


def refuse_unsendable(msgtype: str, content: bytes, limits: Limits) -> None:
    """Downloaded media WeCom's uploads would refuse, refused first in botadmin's words
    (SendRefused, FAILED): an image that is no JPG or PNG (the robot's image, the app's
    media/upload), a voice that is no AMR or plays longer than `limits.voice_seconds`."""
    if msgtype == "image" and not is_jpg_or_png(content):
        raise SendRefused.of(Outcome.FAILED, Reason(gettext_noop("image is not a JPG or PNG")))
    if msgtype == "voice":
        refuse_unsendable_voice(content, limits)


def refuse_unsendable_voice(content: bytes, limits: Limits) -> None:
    """A downloaded voice WeCom would refuse, refused first in botadmin's words
    (SendRefused, FAILED): one that is no AMR or plays longer than `limits.voice_seconds`."""
    if not is_amr(content):
        raise SendRefused.of(Outcome.FAILED, Reason(gettext_noop("voice is not AMR")))
    seconds = limits.voice_seconds
    if seconds and amr_seconds(content, seconds) > seconds:
        too_long = gettext_noop("voice longer than %(seconds)s s")
        raise SendRefused.of(Outcome.FAILED, Reason(too_long, seconds=f"{seconds:g}"))


def too_small(kind: str, size: int, min_bytes: int = MEDIA_MIN_BYTES) -> Reason:
    """Why media of `size` bytes is not sent: WeCom wants at least `min_bytes`."""
    undersize = gettext_noop("%(what)s is only %(size)s bytes: at least %(min)s are needed")
    return Reason(undersize, what=media_word(kind), size=size, min=min_bytes)


def never_connected(error: requests.ConnectionError) -> bool:
    """True when the request certainly did not reach the other side (safe to repeat).

    urllib3 raises its ProxyError ("Unable to connect to proxy") only while the
    connection to a proxy is not made yet (refused, or its TLS certificate not vouched
    for): nothing went through it."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
    return isinstance(reason, NewConnectionError | NameResolutionError | ProxyError)


CANNOT_CONNECT = gettext_noop("cannot connect to WeCom: %(error)s")


def wecom_unreachable(error: http.UnknownHost | requests.RequestException) -> Reason:
    """Why a call never reached WeCom, in the words every WeCom connector uses: "cannot
    connect to WeCom: cannot resolve qyapi.weixin.qq.com" (`http_failures`)."""
    return Reason(CANNOT_CONNECT, error=http_failures.failure_reason(error))


def unrepeatable_send_failure(error: http.UnsafeURLError | requests.RequestException) -> SendResult:
    """A send to a side that does not deduplicate failed in transport: repeat it only when it
    certainly never left; when it may have arrived, an operator decides (uncertain).

    WeCom's own host name not found is this server's DNS failing (offline, no name
    server), not a name to give up on: nothing was sent, so it is tried again."""
    if isinstance(error, http.UnknownHost):
        return SendResult(Outcome.RETRY, wecom_unreachable(error))
    if isinstance(error, http.UnsafeURLError):
        return SendResult(Outcome.FAILED, reasons.of(error))
    if isinstance(error, requests.ConnectionError):
        if never_connected(error):
            return SendResult(Outcome.RETRY, wecom_unreachable(error))
        return SendResult(
            Outcome.UNCERTAIN,
            Reason(
                gettext_noop("connection lost after sending: %(error)s"),
                error=http_failures.failure_reason(error),
            ),
        )
    if isinstance(error, requests.ReadTimeout):
        return SendResult(
            Outcome.UNCERTAIN,
            Reason(
                gettext_noop("no answer from WeCom in time: %(error)s"),
                error=http_failures.failure_reason(error),
            ),
        )
    return SendResult(
        Outcome.UNCERTAIN,
        Reason(
            gettext_noop("request failed: %(error)s"), error=http_failures.failure_reason(error)
        ),
    )
