"""The demo bot `make run` sets up, and the contacts its demo agent serves."""

import os

DEMO_BOT_NAME = "demo"
DEMO_AGENT_HOST = "127.0.0.1"


def demo_agent_port() -> int:
    return int(os.environ.get("DEMO_AGENT_PORT", "7600"))


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
