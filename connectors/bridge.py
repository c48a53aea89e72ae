"""The bridge protocol v1 to an agent holding a WeCom account (shared/spec/bridge-protocol.md)."""

from .base import Connector
from .registry import register


@register
class BridgeConnector(Connector):
    kind = "bridge"
    label = "Bridge agent"
    supported_msgtypes = frozenset({"text", "link", "image", "miniprogram"})
    allows_mentions_only = True
    idempotent = True
    lists_contacts = True
