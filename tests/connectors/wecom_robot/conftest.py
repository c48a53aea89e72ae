"""Fixtures for the WeCom group robot connector's tests: the fake robot API, a bot and a
group set up for it, and the delivery engine's fixtures (shared with tests/messaging)."""

from tests.messaging.conftest import (  # noqa: F401  (the fake WeCom robot API, the engine)
    _fresh_cache,
    _fresh_rate_limits,
    clock,
    queue_message,
    run_queue,
    send,
    wecom,
    wecom_bot,
    wecom_group,
)
