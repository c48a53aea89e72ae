"""WeCom's official group-robot webhook (shared/spec/wecom.md section 1)."""

import requests
from django.conf import settings

from botadmin import http

from .base import Connector, ConnectorError
from .registry import register

# Robot key answers that mean the group's robot is gone (wecom.md section 2).
ROBOT_KEY_GONE_ERRCODES = frozenset({93000, 93004, 93008})


@register
class WeComRobotConnector(Connector):
    kind = "wecom_robot"
    label = "WeCom group robot"
    supported_msgtypes = frozenset({"text", "markdown", "markdown_v2", "link", "news", "image"})
    allows_mentions_only = True
    idempotent = False
    lists_contacts = False

    def check_contact(self, conversation) -> bool:
        """Contact sync of an operator-entered group: does its robot key still work?

        A message with an unknown msgtype is refused by WeCom before anything is
        posted: 40008 means the key works; 93000/93004/93008 that the robot is
        gone, disabled or out of the group. Anything else is not an answer.
        """
        if not conversation.robot_key:
            return False
        try:
            response = http.request(
                "POST",
                settings.WECOM_API_BASE.rstrip("/") + "/cgi-bin/webhook/send",
                params={"key": conversation.robot_key},
                json={"msgtype": "botadmin_connection_check"},
            )
            errcode = int(response.json()["errcode"])
        except (requests.RequestException, http.UnsafeURLError) as error:
            raise ConnectorError(f"WeCom unreachable: {error.__class__.__name__}") from None
        except (ValueError, KeyError, TypeError):
            raise ConnectorError(f"unexpected answer from WeCom: {response.text[:200]}") from None
        if errcode in ROBOT_KEY_GONE_ERRCODES:
            return False
        if errcode != 40008:
            raise ConnectorError(f"WeCom answered errcode {errcode} to a key check")
        return True
