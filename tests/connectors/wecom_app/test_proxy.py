"""An app bot whose trusted IP (企业可信IP) is a proxy's: every call to WeCom goes through
the proxy, and what the proxy answers in WeCom's place (a 502 page, a portal's HTML) is
retried when nothing can have been sent, and left to an operator when it may have been."""

import pytest
import requests
from django.utils import translation

from botadmin.local_http import Answer, LocalServer, Request
from botadmin.reasons import translate
from conversations.models import Bot
from messaging.delivery import deliver

from .conftest import app_settings

TEXT = {"msgtype": "text", "text": {"content": "今晚八点发版"}}
BAD_GATEWAY = Answer(502, b"<html><h1>502 Bad Gateway</h1></html>", {"Content-Type": "text/html"})


class ForwardProxy(LocalServer):
    """An HTTP forward proxy: passes each request on to its absolute target, except the
    WeCom APIs it was told to answer itself (`answers`, e.g. "message/send")."""

    def __init__(self):
        super().__init__()
        self.targets: list[str] = []
        self.answers: dict[str, Answer] = {}
        self._upstream = requests.Session()
        self._upstream.trust_env = False

    def handle(self, request: Request) -> Answer:
        self.targets.append(request.target)
        answer = self.answers.get(request.path.removeprefix("/cgi-bin/"))
        if answer is not None:
            return answer
        headers = {"Content-Type": request.headers.get("Content-Type", "")}
        upstream = self._upstream.request(
            request.method, request.target, data=request.body, headers=headers, timeout=10
        )
        return Answer(upstream.status_code, upstream.content, dict(upstream.headers))


@pytest.fixture
def proxy(app_bot):
    with ForwardProxy() as proxy:
        settings = app_settings(proxy_url=proxy.url())
        Bot.objects.filter(pk=app_bot.pk).update(connector_settings=settings)
        yield proxy


def test_every_call_to_wecom_goes_through_the_bots_proxy(
    app_api, member, proxy, queue_message, clock
):
    message = queue_message(member, TEXT)

    assert deliver(message.pk, clock).result == "sent"

    apis = [target.split("?")[0] for target in proxy.targets]
    assert apis == [app_api.url("/cgi-bin/gettoken"), app_api.url("/cgi-bin/message/send")]
    assert app_api.sent[0][1]["text"] == {"content": "今晚八点发版"}


def test_a_proxy_answering_502_for_the_token_leaves_the_message_queued_and_the_bot_running(
    app_api, app_bot, member, proxy, queue_message, clock
):
    proxy.answers["gettoken"] = BAD_GATEWAY
    message = queue_message(member, TEXT)

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    app_bot.refresh_from_db()
    assert app_bot.paused_at is None and app_api.sent == []
    assert message.last_error.startswith("unexpected gettoken answer (HTTP 502): <html>")
    with translation.override("zh-hans"):
        assert translate(message.last_error).startswith("gettoken 返回了意外的应答（HTTP 502）")
    del proxy.answers["gettoken"]
    clock.advance(3600)
    assert deliver(message.pk, clock).result == "sent"


def test_a_proxy_that_is_down_leaves_the_message_queued_and_the_bot_running(
    app_api, app_bot, member, proxy, queue_message, clock
):
    proxy.stop()
    message = queue_message(member, TEXT)

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    app_bot.refresh_from_db()
    assert app_bot.paused_at is None
    assert message.last_error.startswith("cannot reach WeCom for an access token: ")
    assert app_api.secret not in message.last_error


@pytest.mark.parametrize(
    ("answer", "result"),
    [
        (BAD_GATEWAY, "retry"),  # refused in front of WeCom: nothing was sent
        (Answer(200, b"<html>portal</html>", {"Content-Type": "text/html"}), "uncertain"),
    ],
    ids=["502", "200-html"],
)
def test_a_send_answered_by_the_proxy_instead_of_wecom_is_retried_only_when_nothing_went(
    app_api, member, proxy, queue_message, clock, answer, result
):
    proxy.answers["message/send"] = answer
    message = queue_message(member, TEXT)

    assert deliver(message.pk, clock).result == result

    attempt = message.attempts.get()
    assert (attempt.http_status, attempt.errcode) == (answer.status, None)
    assert "<html>" in attempt.response_text
