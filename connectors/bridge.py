"""The bridge protocol v1 to an agent holding a WeCom account (docs/bridge-protocol.md).

A bot admin sets the agent's URL, so an answer may come from any service an agent may be
at (a wrong port, an internal API whose path a `?x=` ends before `/send`). Operators read
what botadmin makes of an answer: our words, its HTTP status and, when it is the
protocol's envelope (a JSON object with an integer `errcode`), the agent's errcode and
errmsg, on one line and shortened (`_summary`). Never the body itself: that goes to the
server's log, its secrets masked (`_log_answer`, `ConnectorError.detail`).

Reading the answers is in `bridge_answers.py`; listing the contacts in
`bridge_contacts.py`; the settings and the calls to the agent here.
"""

from __future__ import annotations

import requests
from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from botadmin import http
from botadmin.forms import CheckedURLField, NoLabelSuffix, url_check_errors
from botadmin.internal_urls import InternalURLValidator
from botadmin.reasons import Reason, ngettext_noop
from conversations.secrets import generate_agent_token

from .base import (
    ALL_MSGTYPES,
    Connector,
    ConnectorError,
    ContactPage,
    FetchedMedia,
    Limits,
    MediaGone,
    MediaRef,
    Outcome,
    SendResult,
    too_large,
)
from .bridge_answers import (
    _answered,
    _json_envelope,
    _logged,
    _token_refused,
    _unreachable,
    _unresolved,
    _url_refused,
    classify_send_answer,
)
from .bridge_contacts import fetch_contact_page

AGENT_TOKEN_MIN_LENGTH = 32
# What an agent without GET /capabilities sends (docs/bridge-protocol.md section 5).
V1_MSGTYPES = frozenset({"text", "link", "image", "miniprogram"})
# What "Test the connection" says of a bridge that answered the first page of groups.
GROUPS_ON_FIRST_PAGE = ngettext_noop(
    "agent answered: %(count)s group on the first page",
    "agent answered: %(count)s groups on the first page",
    "count",
)
# What the audit log stored before GROUPS_ON_FIRST_PAGE had a singular say ("1 groups"):
# kept so it translates. Its English stays as it was stored.
EARLIER_GROUPS_ON_FIRST_PAGE = gettext_noop("agent answered: %(count)s groups on the first page")


class AgentURLField(CheckedURLField):
    """An agent's base URL, checked as every call to the agent is (`http.check_url(url,
    agent=True)`): never at a link-local or unspecified address (the cloud metadata
    service), and only in BOTADMIN_AGENT_NETWORKS when that is set. The settings form's
    field, so the console, the admin and Bot.clean() (createbot) all check it. Its host may
    be a single label such as `agent` (botadmin.internal_urls)."""

    default_validators = [InternalURLValidator()]

    def check(self, url: str) -> None:
        if http.agent_networks():
            refused = _("Agents may only be in BOTADMIN_AGENT_NETWORKS (%(networks)s): %(reason)s")
        else:
            refused = _("This agent URL is not allowed: %(reason)s.")
        with url_check_errors(
            refused,
            _("The agent URL cannot be checked now: %(reason)s. Try again in a moment."),
            networks=", ".join(settings.BOTADMIN_AGENT_NETWORKS),
        ):
            http.check_url(url, agent=True)


class BridgeSettings(NoLabelSuffix, forms.Form):
    agent_url = AgentURLField(
        label=_("agent URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("The agent's base URL, e.g. http://agent.internal:8080."),
        error_messages={
            "required": _("A bridge bot needs its agent's URL."),
            "scheme": _("The agent URL must start with http:// or https://."),
        },
    )
    agent_token = forms.CharField(
        label=_("agent token"),
        min_length=AGENT_TOKEN_MIN_LENGTH,
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Shared with the agent, at least 32 characters."),
        error_messages={
            "required": _("A bridge bot needs an agent token."),
            "min_length": _("The agent token must be at least %(limit_value)d characters."),
        },
    )


class BridgeConnector(Connector):
    kind = "bridge"
    setup_guide = "connectors/guides/bridge.html"
    label = _("Bridge agent")
    summary = _(
        "Sends and receives through an agent of your own that holds a WeCom account's "
        "session; needs the agent's URL and token."
    )
    docs_section = "bridge-agent"
    native_msgtypes = V1_MSGTYPES
    conversions = {
        "markdown": ("text",),
        "markdown_v2": ("markdown", "text"),
        "news": ("link", "text"),
        "link": ("news", "text"),
        "miniprogram": ("link",),
    }
    # The agent types into a WeCom client, which takes longer texts than the
    # robot does; these keep one message readable and one request small.
    limits = Limits(text=16384, markdown=16384, title=512, description=1024, image=2 * 1024**2)
    image_formats = frozenset({"JPEG", "PNG", "GIF", "WEBP"})
    allows_mentions_only = True
    idempotent = True  # the agent dedupes by message id
    lists_contacts = True
    settings_form = BridgeSettings
    generated_settings = {"agent_token": generate_agent_token}

    def msgtypes(self) -> frozenset[str]:
        """What the agent announced at its last capabilities check, else the v1 set."""
        state = self.bot.connector_state if isinstance(self.bot.connector_state, dict) else {}
        announced = state.get("msgtypes")
        if not isinstance(announced, list):
            return V1_MSGTYPES
        return frozenset(m for m in announced if m in ALL_MSGTYPES) or V1_MSGTYPES

    def learn(self) -> dict:
        """GET /capabilities (section 5): the msgtypes the agent sends; 404 means v1."""
        try:
            response = self._request("GET", "/capabilities")
        except (requests.RequestException, http.UnsafeURLError) as error:
            raise ConnectorError(_unreachable(error)) from None
        if response.status == 404:
            return {"msgtypes": sorted(V1_MSGTYPES), "capabilities": "v1"}
        data = _json_envelope(response)
        msgtypes = data.get("msgtypes")
        if not isinstance(msgtypes, list) or not all(isinstance(m, str) for m in msgtypes):
            not_a_list = gettext_noop("protocol error: `msgtypes` must be a list of strings")
            raise ConnectorError(Reason(not_a_list))
        return {"msgtypes": sorted(set(msgtypes) & ALL_MSGTYPES), "capabilities": "announced"}

    def _url(self, path: str) -> str:
        return self.bot.agent_url.rstrip("/") + path

    def _request(self, method: str, path: str, **kwargs) -> http.HttpResponse:
        headers = {"Authorization": f"Bearer {self.bot.agent_token}", **kwargs.pop("headers", {})}
        # The agent URL is set by a bot admin on purpose and usually points into a
        # private network, so private addresses are allowed (only the networks of
        # BOTADMIN_AGENT_NETWORKS, when set), never a link-local or unspecified one.
        return http.request(
            method,
            self._url(path),
            headers=headers,
            agent=True,
            connect_timeout=settings.BRIDGE_CONNECT_TIMEOUT,
            read_timeout=settings.BRIDGE_READ_TIMEOUT,
            **kwargs,
        )

    def send(self, message_id: str, conversation, body: dict) -> SendResult:
        payload = {"id": message_id, "conversation_id": conversation.conversation_id, **body}
        try:
            response = self._request(
                "POST", "/send", json=payload, headers={"Idempotency-Key": message_id}
            )
        except http.UnknownHost as error:
            # The agent's name is the operator's own (a container's, an internal zone's):
            # it may be back soon, and nothing was sent.
            return SendResult(Outcome.RETRY, detail=_unresolved(error))
        except http.UnsafeURLError as error:
            return SendResult(Outcome.FAILED, detail=_url_refused(error))
        except requests.Timeout as error:
            # Safe to repeat: the agent answers a known id without sending again.
            timed_out = gettext_noop("agent timed out: %(error)s")
            return SendResult(
                Outcome.RETRY, detail=Reason(timed_out, error=error.__class__.__name__)
            )
        except requests.RequestException as error:
            return SendResult(Outcome.RETRY, detail=_unreachable(error))
        return classify_send_answer(response)

    def fetch_media(self, ref: MediaRef, max_bytes: int) -> FetchedMedia:
        """POST /media (section 6): 200 with the bytes; 404 gone for good; the rest later."""
        payload = {
            "msgid": ref.msgid,
            "conversation_id": ref.conversation_id,
            "msgtype": ref.msgtype,
            "cdn_type": ref.cdn_type,
            "cdn": ref.cdn,
        }
        try:
            response = self._request("POST", "/media", json=payload, max_bytes=max_bytes + 1)
        except http.UnknownHost as error:
            raise ConnectorError(_unresolved(error)) from None
        except http.UnsafeURLError as error:
            raise MediaGone(_url_refused(error)) from None
        except requests.RequestException as error:
            raise ConnectorError(_unreachable(error)) from None
        if response.status == 404:
            raise MediaGone(Reason(gettext_noop("the agent cannot get this media (HTTP 404)")))
        if response.status in (401, 403):
            # Asked again later (the token may be fixed meanwhile); the bot's pages say why.
            raise _token_refused(response.status)
        if response.status != 200:
            raise ConnectorError(_answered(response), detail=_logged(response))
        if response.truncated:
            raise MediaGone(too_large(max_bytes))
        return FetchedMedia(response.content, response.headers.get("Content-Type", ""))

    def fetch_contacts(self, kind: str, cursor: str | None = None) -> ContactPage:
        return fetch_contact_page(self, kind, cursor)

    def check(self) -> str:
        page = self.fetch_contacts("group")
        return Reason(GROUPS_ON_FIRST_PAGE, count=len(page.items))
