"""Forwarding fixtures: the local webhook receiver, a bot hooked to it and callback posting
are shared with the inbound tests of messaging."""

from tests.messaging.conftest import (  # noqa: F401
    _fresh_cache,
    _fresh_rate_limits,
    hooked_bot,
    post_callback,
    receiver,
)
