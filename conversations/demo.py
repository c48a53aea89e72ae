"""The demo bot `make run` sets up, and the contacts its demo agent serves.

The demo bot's users and groups reach the database the way every bot's do:
through a contact sync from its (demo) agent, run as soon as the agent listens.
"""

from botadmin.env_numbers import env_int

DEMO_BOT_NAME = "demo"
DEMO_AGENT_HOST = "127.0.0.1"


def demo_agent_port() -> int:
    return env_int("DEMO_AGENT_PORT", 7600)


# The sends (and requests) `make run`'s demo agent keeps: it runs for weeks, and kept every
# one (bench/soak.py). 10,000 sends: 40 minutes at 4 a second, days at a demo's pace.
DEMO_AGENT_REMEMBERS = 10_000


def demo_agent_url() -> str:
    return f"http://{DEMO_AGENT_HOST}:{demo_agent_port()}"


DEMO_USERS = [
    {"conversation_id": "wmDemoUser0001", "name": "张伟", "corp_name": "示例科技"},
    {"conversation_id": "wmDemoUser0002", "name": "李娜", "corp_name": "示例科技"},
    {"conversation_id": "wmDemoUser0003", "name": "王芳", "remark": "VIP 客户"},
    {"conversation_id": "wmDemoUser0004", "name": "Alex Chen"},
]

DEMO_GROUPS = [
    {"conversation_id": "wrDemoGroup0001", "name": "销售部通知群", "member_count": 38},
    {"conversation_id": "wrDemoGroup0002", "name": "客户服务群", "member_count": 112},
    {"conversation_id": "wrDemoGroup0003", "name": "产品发布讨论", "member_count": 17},
]


def start_agent_and_sync(bot, port: int | None = None):
    """Start the demo bot's agent, point the bot at it and sync its contacts from it."""
    from connectors.demo_agent import DemoAgent

    from .models import SyncRun
    from .sync import sync_now

    agent = DemoAgent(
        token=bot.agent_token,
        users=DEMO_USERS,
        groups=DEMO_GROUPS,
        host=DEMO_AGENT_HOST,
        port=demo_agent_port() if port is None else port,
        remember=DEMO_AGENT_REMEMBERS,
    ).start()
    if bot.agent_url != agent.url:
        bot.agent_url = agent.url
        bot.save(update_fields=["agent_url", "updated_at"])
    return agent, sync_now(bot, SyncRun.Trigger.STARTUP)
