# The fake agent and a bridge bot pointed at it, shared with the connector tests.
from tests.connectors.conftest import agent, bridge_bot  # noqa: F401
