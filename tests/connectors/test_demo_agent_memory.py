"""`make run`'s demo agent runs for weeks: it keeps its newest sends, not every one."""

from io import StringIO

import requests
from django.core.management import call_command

from connectors.demo_agent import DemoAgent
from conversations import demo
from conversations.models import Bot


def send(agent: DemoAgent, message_id: str) -> dict:
    answer = requests.post(
        agent.url + "/send",
        json={"id": message_id, "conversation_id": "wrDemoGroup0001", "msgtype": "text",
              "text": {"content": f"message {message_id}"}},
        headers={"Authorization": f"Bearer {agent.token}"},
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 200
    return answer.json()


def test_an_agent_remembering_three_sends_forgets_the_oldest_and_answers_a_recent_repeat_alike():
    with DemoAgent(token="t" * 40, remember=3) as agent:
        answers = {str(n): send(agent, str(n))["msgid"] for n in range(5)}

        assert list(agent.sent) == ["2", "3", "4"]
        assert len(agent.send_requests) == 3
        # A repeat of a send it remembers: the same msgid, not sent again.
        assert send(agent, "4")["msgid"] == answers["4"]
        assert list(agent.sent) == ["2", "3", "4"]
        # One it forgot is sent again, as a new message.
        assert send(agent, "0")["msgid"] not in answers.values()
        assert list(agent.sent) == ["3", "4", "0"]


def test_make_runs_demo_agent_keeps_no_more_sends_than_it_remembers(
    db, settings, tmp_path, monkeypatch
):
    settings.VAR_DIR = tmp_path
    call_command("setup_demo", "--admin-password", "pw-demo-123", stdout=StringIO())
    monkeypatch.setattr(demo, "DEMO_AGENT_REMEMBERS", 3)  # 10,000 in make run

    agent, _run = demo.start_agent_and_sync(Bot.objects.get(name="demo"), port=0)
    try:
        for n in range(6):
            send(agent, f"m{n}")
        assert list(agent.sent) == ["m3", "m4", "m5"]
        assert len(agent.send_requests) == 3
    finally:
        agent.stop()
