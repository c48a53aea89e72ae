"""An app bot whose trusted IP (企业可信IP) is a proxy's: every call to WeCom goes through
the proxy, and what the proxy answers in WeCom's place (a 502 page, a portal's HTML) is
retried when nothing can have been sent, and left to an operator when it may have been.
Where the proxy may be is the server's rule (BOTADMIN_OUTBOUND_PROXY_NETWORKS), checked
when the bot's settings are saved and at every connection; its password is a secret."""

import base64
import contextlib
import itertools
import os
from collections.abc import Callable

import pytest
import requests
import requests.adapters
from django.utils import translation

from botadmin.local_http import Answer, LocalServer, Request
from botadmin.reasons import translate
from connectors.wecom_app_settings import WeComAppSettings
from conversations.models import Bot
from devtools.fake_wecom_app import FakeWeComApp
from messaging.delivery import deliver
from tests.outbound import ConnectProxy, Names, tls_context

from .conftest import AGENT_ID, CORP_ID, SECRET, app_settings

TEXT = {"msgtype": "text", "text": {"content": "今晚八点发版"}}
BAD_GATEWAY = Answer(502, b"<html><h1>502 Bad Gateway</h1></html>", {"Content-Type": "text/html"})


class ForwardProxy(LocalServer):
    """An HTTP forward proxy: passes each request on to its absolute target, except the
    WeCom APIs it was told to answer itself (`answers`, e.g. "message/send")."""

    def __init__(self):
        super().__init__()
        self.targets: list[str] = []
        self.authorizations: list[str | None] = []
        self.answers: dict[str, Answer | Callable[[Request], Answer]] = {}
        self._upstream = requests.Session()
        self._upstream.trust_env = False

    def handle(self, request: Request) -> Answer:
        self.targets.append(request.target)
        self.authorizations.append(request.headers.get("Proxy-Authorization"))
        answer = self.answers.get(request.path.removeprefix("/cgi-bin/"))
        if callable(answer):
            return answer(request)
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


def squid_page(status: int):
    """A proxy's error page, which names the URL it could not fetch, query string and all."""

    def answer(request: Request) -> Answer:
        page = f"<html><p>The requested URL could not be retrieved: {request.target}</p></html>"
        return Answer(status, page.encode(), {"Content-Type": "text/html"})

    return answer


@pytest.mark.parametrize("api", ["gettoken", "message/send"])
@pytest.mark.parametrize("status", [403, 502])
def test_a_proxy_page_naming_the_url_keeps_the_secret_and_token_out_of_the_error(
    app_api, app_bot, member, proxy, queue_message, clock, api, status
):
    proxy.answers[api] = squid_page(status)
    message = queue_message(member, TEXT)

    deliver(message.pk, clock)

    message.refresh_from_db()
    assert "could not be retrieved" in message.last_error
    assert SECRET not in message.last_error
    assert not any(token in message.last_error for token in app_api.tokens)
    assert "=********" in message.last_error


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


def test_a_proxy_asking_for_a_password_gets_the_urls_user_and_the_password_kept_apart(
    app_api, app_bot, member, proxy, queue_message, clock
):
    password = "pa:ss/w@rd%1"
    address = proxy.url().removeprefix("http://")
    settings = app_settings(proxy_url=f"http://botadmin@{address}", proxy_password=password)
    Bot.objects.filter(pk=app_bot.pk).update(connector_settings=settings)

    assert deliver(queue_message(member, TEXT).pk, clock).result == "sent"

    basic = "Basic " + base64.b64encode(f"botadmin:{password}".encode()).decode()
    assert proxy.authorizations == [basic, basic]  # gettoken, message/send


@pytest.mark.parametrize("token_kept", [False, True], ids=["for-the-token", "for-the-send"])
def test_a_proxy_no_longer_allowed_pauses_the_bot_and_keeps_its_messages(
    app_api, app_bot, member, proxy, queue_message, clock, settings, token_kept
):
    """BOTADMIN_OUTBOUND_PROXY_NETWORKS changed (or the proxy's name now resolves
    elsewhere) after the bot was saved: nothing goes out, and every message waits for a
    bot admin to correct the proxy and resume the bot."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = ["127.0.0.0/8"]
    if token_kept:  # an access token from before is in the cache
        assert deliver(queue_message(member, TEXT).pk, clock).result == "sent"
        clock.advance(60)  # past the member's pace
    calls = len(proxy.targets)
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = ["10.0.0.0/8"]
    message = queue_message(member, TEXT)

    assert deliver(message.pk, clock).result == "retry"

    app_bot.refresh_from_db()
    message.refresh_from_db()
    assert app_bot.paused_at is not None
    assert "127.0.0.1, outside the allowed networks" in app_bot.paused_reason
    with translation.override("zh-hans"):
        assert "请更正机器人的连接器设置" in translate(app_bot.paused_reason)
    assert message.status == "queued"
    assert len(proxy.targets) == calls and len(app_api.sent) == int(token_kept)


def proxy_form(proxy_url: str, **values) -> WeComAppSettings:
    return WeComAppSettings(data=app_settings(proxy_url=proxy_url) | values)


@pytest.mark.parametrize(
    ("networks", "error"),
    [
        (
            [],
            "This proxy may not be used: 127.0.0.1 resolves to 127.0.0.1, a private or "
            "reserved address (set BOTADMIN_OUTBOUND_PROXY_NETWORKS to allow it)",
        ),
        (
            ["10.0.0.0/8"],
            "Proxies may only be in BOTADMIN_OUTBOUND_PROXY_NETWORKS (10.0.0.0/8): "
            "127.0.0.1 resolves to 127.0.0.1, outside the allowed networks",
        ),
    ],
    ids=["private", "outside-networks"],
)
def test_a_proxy_where_proxies_may_not_be_is_refused_when_saved(settings, networks, error):
    """Bot admins set the proxy (the console, the admin and createbot all check the
    settings with this form); where it may point is the server's setting."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = networks
    with translation.override("en"):
        form = proxy_form("http://127.0.0.1:3128")
        assert form.errors["proxy_url"] == [error]


def test_a_proxy_in_the_proxy_networks_is_taken(settings):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = ["127.0.0.0/8"]
    assert proxy_form("http://127.0.0.1:3128").is_valid()


@pytest.mark.parametrize("anywhere", [False, True], ids=["checked", "private-urls-allowed"])
def test_a_proxy_whose_name_resolves_too_slowly_is_refused_for_now(
    hung_resolver, settings, anywhere
):
    """Also where any address is allowed: the connection goes to the address looked up
    here, within BOTADMIN_DNS_TIMEOUT, never to one urllib3 would wait for."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = anywhere
    form = proxy_form("http://squid.hung.example:3128")
    assert form.errors["proxy_url"] == [
        "现在无法检查出站代理 URL：无法在 0.2 秒内解析 squid.hung.example。请稍后再试。"
    ]


@pytest.mark.parametrize(
    "proxy_url",
    [
        "socks5://127.0.0.1:1080",
        "ftp://127.0.0.1:3128",
        "http://botadmin:pa55word@127.0.0.1:3128",  # the password goes in its own field
        "http://127.0.0.1:3128/cgi-bin/",
        "http://127.0.0.1:3128/?a=b",
    ],
)
def test_a_proxy_url_is_http_or_https_to_an_address_without_a_password(proxy_url):
    assert "proxy_url" in proxy_form(proxy_url).errors


# --- an https:// proxy, in front of WeCom's https API --------------------------------------

QYAPI = "qyapi.example.test"


@pytest.fixture
def https_api(settings, tmp_path, monkeypatch):
    """The fake WeCom API over https as qyapi.example.test, a name only the proxy knows,
    with a certificate requests trusts (its CA bundle, certifi's in production)."""
    context, _, cert_file = tls_context(tmp_path, QYAPI)
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", cert_file)
    fake = FakeWeComApp(corp_id=CORP_ID, secret=SECRET, agent_id=AGENT_ID)
    fake.tls = context
    fake.add_user("zhangsan", "张三")
    with fake:
        settings.WECOM_API_BASE = f"https://{QYAPI}:{fake.port}"
        yield fake


@pytest.fixture
def squid(tmp_path, monkeypatch, https_api, app_bot):
    """`squid(trusted)`: an https:// proxy named squid.example.test (this host's resolver
    says 127.0.0.1) in front of the fake API, made the bot's proxy with a password; its
    certificate is vouched for by the system's CA certificates (SSL_CERT_FILE) or not."""
    Names(monkeypatch).answer("squid.example.test", ["127.0.0.1"])
    monkeypatch.setenv("SSL_CERT_FILE", os.devnull)
    proxies, numbers = contextlib.ExitStack(), itertools.count()

    def start(trusted: bool) -> ConnectProxy:
        folder = tmp_path / f"proxy-{next(numbers)}"
        folder.mkdir()
        context, _, cert_file = tls_context(folder, "squid.example.test")
        if trusted:
            monkeypatch.setenv("SSL_CERT_FILE", cert_file)
        proxy = proxies.enter_context(ConnectProxy({QYAPI: "127.0.0.1"}, tls=context))
        url = f"https://botadmin@squid.example.test:{proxy.port}"
        settings = app_settings(proxy_url=url, proxy_password="pa:ss/w@rd")
        Bot.objects.filter(pk=app_bot.pk).update(connector_settings=settings)
        return proxy

    with proxies:
        yield start


def test_an_https_proxy_carries_every_call_to_wecom_in_a_tunnel_inside_its_tls(
    https_api, member, squid, queue_message, clock
):
    proxy = squid(trusted=True)

    assert deliver(queue_message(member, TEXT).pk, clock).result == "sent"

    assert proxy.asked and set(proxy.asked) == {f"CONNECT {QYAPI}:{https_api.port}"}
    basic = "Basic " + base64.b64encode(b"botadmin:pa:ss/w@rd").decode()
    assert set(proxy.authorizations) == {basic}
    assert https_api.sent[0][1]["text"] == {"content": "今晚八点发版"}


def test_an_https_proxy_whose_certificate_is_not_vouched_for_is_told_nothing_and_the_send_waits(
    https_api, app_bot, member, squid, queue_message, clock
):
    """With an access token from before: the send itself never left, so it is retried
    (a certificate renewed, or the CA added, lets it go), and the bot keeps running."""
    squid(trusted=True)
    assert deliver(queue_message(member, TEXT).pk, clock).result == "sent"
    clock.advance(60)  # past the member's pace
    impostor = squid(trusted=False)
    message = queue_message(member, TEXT)

    assert deliver(message.pk, clock).result == "retry"

    app_bot.refresh_from_db()
    message.refresh_from_db()
    assert impostor.asked == [] and len(https_api.sent) == 1
    assert message.last_error == (
        "cannot connect to WeCom: squid.example.test sent a certificate that cannot be trusted"
    )
    assert app_bot.paused_at is None and message.status == "queued"
