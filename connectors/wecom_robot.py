"""WeCom's official group-robot webhook (shared/spec/wecom.md section 1)."""

from .base import Connector
from .registry import register


@register
class WeComRobotConnector(Connector):
    kind = "wecom_robot"
    label = "WeCom group robot"
    supported_msgtypes = frozenset({"text", "markdown", "markdown_v2", "link", "news", "image"})
    allows_mentions_only = True
    idempotent = False
    lists_contacts = False
