"""Listing an agent's contacts (docs/bridge-protocol.md, GET /users and GET /groups): one
page at a time, each item checked before the sync stores it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests
from django.utils.translation import gettext_noop

from botadmin import http
from botadmin.jsontext import unstorable
from botadmin.reasons import Reason

from .base import ConnectorError, ContactPage
from .bridge_answers import PROTOCOL_ERROR, _json_envelope, _unreachable, _url_refused

if TYPE_CHECKING:
    from .bridge import BridgeConnector

CONTACT_KINDS = {"user": "users", "group": "groups"}
# The protocol sets no page size: an agent may answer 20,000 users on one page (over 1 MB,
# past BOTADMIN_HTTP_MAX_RESPONSE_BYTES). A page is read up to this; a larger one fails the
# sync saying so, rather than as a cut answer that is "not JSON".
CONTACT_PAGE_MAX_BYTES = 16 * 1024 * 1024
PAGE_TOO_LARGE = {
    "user": gettext_noop(
        "protocol error: a page of users is larger than %(megabytes)s MB; the agent should "
        "answer smaller pages (next_cursor)"
    ),
    "group": gettext_noop(
        "protocol error: a page of groups is larger than %(megabytes)s MB; the agent should "
        "answer smaller pages (next_cursor)"
    ),
}


def fetch_contact_page(
    connector: BridgeConnector, kind: str, cursor: str | None = None
) -> ContactPage:
    path = "/" + CONTACT_KINDS[kind]
    try:
        response = connector._request(
            "GET",
            path,
            params={"cursor": cursor} if cursor else None,
            max_bytes=CONTACT_PAGE_MAX_BYTES,
        )
    except http.UnsafeURLError as error:
        raise ConnectorError(_url_refused(error)) from None
    except requests.RequestException as error:
        raise ConnectorError(_unreachable(error)) from None
    if response.truncated:
        megabytes = CONTACT_PAGE_MAX_BYTES // (1024 * 1024)
        raise ConnectorError(Reason(PAGE_TOO_LARGE[kind], megabytes=megabytes))
    data = _json_envelope(response)
    items = data.get("data")
    next_cursor = data.get("next_cursor")
    if not isinstance(items, list) or not (next_cursor is None or isinstance(next_cursor, str)):
        bad_page = gettext_noop(
            "protocol error: `data` must be a list and `next_cursor` a string or null"
        )
        raise ConnectorError(Reason(bad_page))
    for item in items:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("conversation_id"), str)
            and item["conversation_id"]
            and isinstance(item.get("name"), str)
        ):
            bad_item = Reason(gettext_noop("protocol error: a bad contact item"))
            raise ConnectorError(bad_item, detail=str(item)[:200])
        if problem := unstorable(item, "contact"):
            unstorable_item = Reason(PROTOCOL_ERROR, problem=problem)
            raise ConnectorError(unstorable_item, detail=str(item)[:200])
    return ContactPage(items=items, next_cursor=next_cursor or None)
