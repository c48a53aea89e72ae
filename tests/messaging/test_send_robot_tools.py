"""Tools written for a WeCom robot URL, pointed at botadmin: their requests over real HTTP.

Each test sends what the named tool or script sends (body bytes, headers), read from its
source, to a live server, and checks what that tool checks in the answer.
"""

import pytest
import requests


@pytest.fixture
def post_raw(live_server, robot_bot, robot_group):
    """POST bytes to the robot bot's send URL as `curl -d` would, with `headers`."""

    def post(data: bytes, headers: dict | None = None) -> requests.Response:
        return requests.post(
            live_server.url + "/api/send",
            params={"secret": robot_bot.secret, "conversation_id": "robotGroup1"},
            data=data,
            headers=headers or {"Content-Type": "application/json"},
            timeout=30,
        )

    return post


def test_a_script_that_greps_the_answer_for_errcode_0_sees_success(post_raw):
    """Shell scripts judge the robot's answer by its bytes, as WeCom writes it
    (`{"errcode":0,"errmsg":"ok"}`, no spaces): the DingoFS test suite's notifier and a
    data-alert script posting to `$WECOM_WEBHOOK_URL` both run
    `echo "$response" | grep -q '"errcode":0'` and report a failure otherwise."""
    body = b'{"msgtype":"markdown","markdown":{"content":"**PASS** smoke"}}'

    response = post_raw(body)

    assert response.status_code == 200
    assert response.text.startswith('{"errcode":0,"errmsg":"ok",')
