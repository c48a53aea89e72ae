import pytest

from connectors.demo_agent import DemoAgent
from conversations.demo import DEMO_GROUPS, DEMO_USERS
from conversations.secrets import generate_agent_token


@pytest.fixture
def agent():
    """The fake agent: a real bridge-protocol server on 127.0.0.1."""
    with DemoAgent(token=generate_agent_token(), users=DEMO_USERS, groups=DEMO_GROUPS) as agent:
        yield agent


@pytest.fixture
def bridge_bot(make_bot, agent):
    return make_bot(name="bridge", agent_url=agent.url, agent_token=agent.token)
