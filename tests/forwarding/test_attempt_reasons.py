"""A POST that got no answer says why in the operator's words (refused, TLS, timed out),
those of every outbound request (botadmin/http_failures.py), with the exception's own
text kept as a technical detail, not as the reason."""

import io
import json
import logging
import socket
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone, translation

from botadmin.logging import MASK, use_format
from botadmin.reasons import Reason, translate
from botadmin.templatetags.reasons import reason_detail
from devtools.receiver import Receiver
from forwarding.attempt_reasons import EARLIER_WORDING, NO_ANSWER, answered
from forwarding.models import WebhookAttempt, WebhookDelivery
from forwarding.webhook_delivery import attempt_delivery


def _failed_attempt(make_bot, record, url):
    bot = make_bot(name="hooked", webhook_url=url)
    delivery = record(bot)
    assert attempt_delivery(delivery.pk) == "failure"
    return delivery.attempts.get()


def test_a_port_nobody_listens_on_is_a_refused_connection(make_bot, record):
    with Receiver() as gone:
        port = gone.port

    attempt = _failed_attempt(make_bot, record, f"http://127.0.0.1:{port}/hook")

    reason = attempt.response_text
    assert reason == "no answer from the endpoint: 127.0.0.1 refused the connection"
    with translation.override("zh-hans"):
        assert translate(reason) == "端点没有应答：127.0.0.1 拒绝了连接"
    assert "Connection refused" in reason_detail(reason)
    assert "ConnectionError" in reason_detail(reason)


def test_https_to_a_plain_http_server_is_a_tls_failure(make_bot, record, receiver):
    url = receiver.url("/hook").replace("http://", "https://")

    attempt = _failed_attempt(make_bot, record, url)

    reason = attempt.response_text
    assert reason == "no answer from the endpoint: the secure (TLS) connection to 127.0.0.1 failed"
    assert "SSLError" in reason_detail(reason)
    assert not receiver.requests


def test_an_answer_not_complete_in_time_is_a_timeout(make_bot, record, receiver, monkeypatch):
    monkeypatch.setattr("forwarding.webhook_requests.RESPONSE_TIMEOUT", 1)
    receiver.trickle = 0.25
    receiver.respond(200, b"ok", {f"X-Line-{n}": "." for n in range(12)})

    attempt = _failed_attempt(make_bot, record, receiver.url("/hook"))

    assert attempt.response_text == "no answer from the endpoint: read timed out"
    assert "within 1 s" in reason_detail(attempt.response_text)


@pytest.fixture
def moving_name(monkeypatch):
    """`hooks.moving.example`, the receiver's name (127.0.0.1) while `published[0]`; else
    "no such name", as a name server answers while the receiver's DNS record is changed."""
    published = [True]
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "hooks.moving.example":
            if not published[0]:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return published


@pytest.mark.parametrize("url_checks", [True, False])
def test_a_receiver_whose_name_is_gone_from_dns_for_a_while_gets_the_message_on_a_retry(
    url_checks, make_bot, record, receiver, settings, moving_name
):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = not url_checks
    settings.BOTADMIN_WEBHOOK_NETWORKS = ["127.0.0.0/8"]  # the receiver's network
    bot = make_bot(name="hooked", webhook_url=f"http://hooks.moving.example:{receiver.port}/in")
    moving_name[0] = False
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        delivery = record(bot)

        assert attempt_delivery(delivery.pk) == "failure"

        delivery.refresh_from_db()
        assert (delivery.status, delivery.retry_step) == ("pending", 1)
        reason = "no answer from the endpoint: cannot resolve hooks.moving.example"
        assert delivery.last_error == delivery.attempts.get().response_text == reason
        moving_name[0] = True
        traveller.move_to(delivery.next_attempt_at + timedelta(milliseconds=1))
        assert attempt_delivery(delivery.pk) == "success"

    (request,) = receiver.requests
    assert request.headers["Host"] == f"hooks.moving.example:{receiver.port}"


def test_an_http_status_says_what_it_means():
    with translation.override("zh-hans"):
        assert translate(answered(404)) == "端点返回 HTTP 404：没有这个路径，请检查 URL"
        assert "接收方服务器出错" in translate(answered(502))
    assert "redirect" in answered(302) and "refused the event" in answered(418)


@pytest.mark.parametrize("wording", EARLIER_WORDING)
def test_the_words_of_attempts_recorded_by_the_earlier_release_are_still_translated(wording):
    stored = Reason(NO_ANSWER, error=Reason(wording), detail="ConnectionError: …")

    with translation.override("zh-hans"):
        shown = translate(stored)
    assert shown.startswith("端点没有应答：") and wording not in shown


TOKEN = "q3v8fJ2k" + "Lm9PzX7wR4tY"  # a receiver's credential in its URL's path


@pytest.fixture
def log_text():
    """Every log line while the test runs, down to DEBUG (urllib3's request lines), as the
    configured handlers write them (`use_format`: masked)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    use_format(handler, "text")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream.getvalue
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_token_in_the_path_of_an_endpoint_nobody_answers_is_kept_out_of_the_reasons_and_logs(
    make_bot, record, log_text
):
    with Receiver() as gone:
        port = gone.port

    attempt = _failed_attempt(make_bot, record, f"http://127.0.0.1:{port}/hooks/{TOKEN}")

    detail = reason_detail(attempt.response_text)
    assert f"with url: /hooks/{MASK}" in detail and "127.0.0.1" in detail
    stored = WebhookAttempt.objects.filter(pk=attempt.pk).values_list("response_text", flat=True)
    last_error = WebhookDelivery.objects.filter(pk=attempt.delivery_id).values_list(
        "last_error", flat=True
    )
    assert TOKEN not in json.dumps([*stored, *last_error])
    assert TOKEN not in log_text()


def test_a_token_in_the_path_of_an_endpoint_answering_an_error_is_kept_out_of_answer_and_logs(
    make_bot, record, receiver, log_text
):
    receiver.respond(404, f"<pre>Cannot POST /hooks/{TOKEN}</pre>".encode())  # Express's

    attempt = _failed_attempt(make_bot, record, receiver.url(f"/hooks/{TOKEN}"))

    assert receiver.requests[0].path == f"/hooks/{TOKEN}"  # the endpoint got it whole
    assert attempt.http_status == 404
    assert attempt.response_text == f"<pre>Cannot POST /hooks/{MASK}</pre>"
    last_error = WebhookDelivery.objects.filter(pk=attempt.delivery_id).values_list(
        "last_error", flat=True
    )
    assert TOKEN not in json.dumps(list(last_error))
    logged = log_text()
    assert f'"POST /hooks/{MASK} HTTP/1.1" 404' in logged and "127.0.0.1" in logged
    assert TOKEN not in logged
