"""POST /api/send: what callers written against the seed or a WeCom robot URL see."""

import base64
import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from jsonschema import Draft202012Validator

from botadmin import metrics
from botadmin.errors import ApiError
from conversations.models import Bot
from conversations.services import rotate_secret
from messaging.models import Message
from messaging.validation import validate_outbound
from tests.messaging.support import full_disk

FIXTURES = Path(__file__).parent / "fixtures"
AMR = b"#!AMR\n" + (b"\x3c" + bytes(31)) * 50  # one second of AMR-NB
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))


def image_body(raw: bytes = PNG, md5: str | None = None) -> dict:
    return {
        "msgtype": "image",
        "image": {
            "base64": base64.b64encode(raw).decode(),
            "md5": md5 or hashlib.md5(raw).hexdigest(),
        },
    }


def accepted(response) -> Message:
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    return Message.objects.get(msgid=answer["msgid"])


def refused(response, errcode: int, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer["errcode"] == errcode, answer
    assert not Message.objects.exists()
    return answer["errmsg"]


# --- accepted bodies ------------------------------------------------------------


def test_the_seed_documents_curl_example_is_accepted_byte_for_byte(client, bot, group):
    curl = (FIXTURES / "seed_send_curl.txt").read_text()
    url = re.search(r"curl '([^']+)'", curl).group(1)
    url = url.replace("#{secret}", bot.secret).replace("#{conversation_id}", "wrGroup1")
    content_type = re.search(r"-H 'Content-Type: ([^']+)'", curl).group(1)
    data = re.search(r"-d '(.*)'", curl, re.S).group(1).encode()

    response = client.post(url.split("bot-admin.minapp.xin")[1], data, content_type=content_type)

    message = accepted(response)
    assert message.body == {"msgtype": "text", "text": {"content": "hello world"}}
    assert message.status == Message.Status.QUEUED
    assert message.source == Message.Source.API
    assert message.conversation == group and message.direction == Message.Direction.OUT


@pytest.mark.parametrize(
    "body, stored",
    [
        (
            {"msgtype": "text", "text": {"content": "hi", "mentioned_list": ["zhangsan"]}},
            {"content": "hi", "mentioned_list": ["zhangsan"]},
        ),
        (
            {
                "msgtype": "link",
                "link": {
                    "title": "标题",
                    "url": "https://x.com",
                    "image_url": "https://x.com/logo.png",
                    "desc": "描述",
                },
            },
            {
                "title": "标题",
                "url": "https://x.com",
                "image_url": "https://x.com/logo.png",
                "desc": "描述",
            },
        ),
        (
            {"msgtype": "image", "image": {"url": "https://tuiguangdashi.com/logo.png"}},
            {"url": "https://tuiguangdashi.com/logo.png"},
        ),
        (
            {
                "msgtype": "miniprogram",
                "miniprogram": {"appid": "wx1", "title": "小程序", "pagepath": "pages/index"},
            },
            {"appid": "wx1", "title": "小程序", "page_path": "pages/index"},
        ),
        (
            {
                "msgtype": "miniprogram",
                "miniprogram": {
                    "appid": "wx1",
                    "title": "t",
                    "page_path": "pages/a",
                    "appname": "App",
                    "appicon": "https://x.com/i.png",
                    "thumb_url": "https://x.com/t.png",
                },
            },
            {
                "appid": "wx1",
                "title": "t",
                "page_path": "pages/a",
                "appname": "App",
                "appicon": "https://x.com/i.png",
                "thumb_url": "https://x.com/t.png",
            },
        ),
    ],
    ids=["text", "link", "image-url", "miniprogram-pagepath", "miniprogram-full"],
)
def test_every_seed_msgtype_is_stored_normalised_for_a_bridge_bot(send, bot, group, body, stored):
    message = accepted(send(bot.secret, "wrGroup1", body))
    assert message.msgtype == body["msgtype"]
    assert message.body == {"msgtype": body["msgtype"], body["msgtype"]: stored}


@pytest.mark.parametrize(
    "body",
    [
        {"msgtype": "text", "text": {"content": "hello"}},
        {"msgtype": "markdown", "markdown": {"content": '**bold** <font color="info">ok</font>'}},
        {"msgtype": "markdown_v2", "markdown_v2": {"content": "| a | b |\n|---|---|\n| 1 | 2 |"}},
        {"msgtype": "link", "link": {"title": "t", "url": "http://example.com/a?b=c"}},
        image_body(),
        {
            "msgtype": "news",
            "news": {
                "articles": [
                    {"title": f"a{i}", "url": "https://x.com", "picurl": "https://x.com/p.png"}
                    for i in range(8)
                ]
            },
        },
        {"msgtype": "file", "file": {"url": "https://x.com/r.pdf", "name": "报告.pdf"}},
        {
            "msgtype": "file",
            "file": {
                "base64": base64.b64encode(b"%PDF-1.4").decode(),
                "md5": hashlib.md5(b"%PDF-1.4").hexdigest(),
            },
        },
        {"msgtype": "voice", "voice": {"url": "https://x.com/v.amr"}},
        {
            "msgtype": "voice",
            "voice": {
                "base64": base64.b64encode(AMR).decode(),
                "md5": hashlib.md5(AMR).hexdigest(),
            },
        },
    ],
    ids=[
        "text",
        "markdown",
        "markdown_v2",
        "link",
        "image-base64",
        "news-8",
        "file-url",
        "file-base64",
        "voice-url",
        "voice-base64",
    ],
)
def test_every_wecom_msgtype_is_accepted_for_a_robot_bot(send, robot_bot, robot_group, body):
    message = accepted(send(robot_bot.secret, "robotGroup1", body))
    assert message.body == body


@pytest.mark.parametrize(
    "fixture, msgtype",
    [
        ("apprise_text.json", "text"),
        ("gitea_markdown.json", "markdown"),
        ("jenkins_mentions.json", "text"),
        ("jenkins_markdown.json", "markdown"),
        ("grafana_text.json", "text"),
        ("grafana_markdown.json", "markdown"),
    ],
)
def test_bodies_of_tools_that_post_to_a_robot_url_are_accepted(
    send, robot_bot, robot_group, fixture, msgtype
):
    raw = (FIXTURES / fixture).read_bytes()
    response = send(
        robot_bot.secret, "robotGroup1", raw, content_type="application/json; charset=utf-8"
    )
    message = accepted(response)
    assert message.msgtype == msgtype
    assert set(message.body) == {"msgtype", msgtype}  # Gitea's empty text is dropped


def test_a_mentions_only_text_is_stored_with_empty_content(send, robot_bot, robot_group):
    raw = (FIXTURES / "jenkins_mentions.json").read_bytes()
    message = accepted(send(robot_bot.secret, "robotGroup1", raw))
    assert message.body["text"] == {
        "content": "",
        "mentioned_list": ["zhangsan", "@all"],
        "mentioned_mobile_list": ["13800001111"],
    }


def test_unknown_fields_are_ignored_and_not_stored(send, bot, group):
    body = {"msgtype": "text", "text": {"content": "x", "color": "red"}, "safe": 0, "extra": [1]}
    assert accepted(send(bot.secret, "wrGroup1", body)).body == {
        "msgtype": "text",
        "text": {"content": "x"},
    }


def test_json_content_types_that_tools_send_are_tolerated(send, bot, group):
    body = {"msgtype": "text", "text": {"content": "x"}}
    for content_type in ("application/json;charset=UTF-8", "text/plain", ""):
        accepted(send(bot.secret, "wrGroup1", body, content_type=content_type))
    assert Message.objects.count() == 3


def test_a_secret_in_its_rotation_grace_period_still_sends(send, bot, group):
    old = bot.secret
    rotate_secret(bot)
    accepted(send(old, "wrGroup1", {"msgtype": "text", "text": {"content": "x"}}))


def test_a_metrics_disk_that_is_full_costs_the_count_not_the_message(
    send, bot, group, settings, monkeypatch, caplog
):
    settings.BOTADMIN_METRICS_TOKEN = "metrics-on"
    monkeypatch.setattr(metrics.MESSAGES_ACCEPTED, "labels", full_disk)
    monkeypatch.setattr(metrics.API_REQUESTS, "labels", full_disk)

    message = accepted(send(bot.secret, "wrGroup1", {"msgtype": "text", "text": {"content": "x"}}))

    assert Message.objects.count() == 1
    assert "metrics: message_accepted not recorded" in caplog.text
    assert "metrics: api_request not recorded" in caplog.text
    assert message.status == "queued"


def test_a_news_description_longer_than_wecom_allows_is_cut_like_wecom_does(
    send, robot_bot, robot_group
):
    article = {"title": "t", "url": "https://x.com", "description": "长" * 300}
    body = {"msgtype": "news", "news": {"articles": [article]}}
    message = accepted(send(robot_bot.secret, "robotGroup1", body))
    description = message.body["news"]["articles"][0]["description"]
    assert len(description.encode()) <= 512 and description == "长" * 170


# --- scheduling -------------------------------------------------------------------


def test_send_at_in_the_query_stores_a_scheduled_message(send, bot, group):
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    response = send(
        bot.secret, "wrGroup1", {"msgtype": "text", "text": {"content": "later"}},
        query={"send_at": when.isoformat()},
    )  # fmt: skip
    message = accepted(response)
    assert message.status == Message.Status.SCHEDULED
    assert message.scheduled_at == when
    assert response.json()["send_at"] == message.scheduled_at.isoformat()


def test_send_at_in_the_body_as_unix_seconds_schedules_and_is_not_stored_in_the_body(
    send, bot, group
):
    when = int((timezone.now() + timedelta(days=1)).timestamp())
    body = {"msgtype": "text", "text": {"content": "later"}, "send_at": when}
    message = accepted(send(bot.secret, "wrGroup1", body))
    assert message.status == Message.Status.SCHEDULED
    assert int(message.scheduled_at.timestamp()) == when
    assert "send_at" not in message.body


def test_send_at_in_the_past_sends_now(send, bot, group):
    body = {"msgtype": "text", "text": {"content": "now"}, "send_at": "2020-01-01T00:00:00Z"}
    message = accepted(send(bot.secret, "wrGroup1", body))
    assert message.status == Message.Status.QUEUED and message.scheduled_at is None


# --- idempotency -----------------------------------------------------------------


def test_the_same_idempotency_key_twice_returns_the_first_msgid_and_stores_once(send, bot, group):
    body = {"msgtype": "text", "text": {"content": "once"}}
    first = send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": "order-42"})
    again = send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": "order-42"})
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1
    assert Message.objects.get().idempotency_key == "order-42"


def test_an_idempotency_key_with_a_space_inside_is_a_key_like_any_other(send, bot, group):
    """Printable ASCII, as docs/api.md says, the IETF draft's sf-string (0x20-0x7E) and
    Stripe's "any string" have it; the spaces around a header's value are not part of it."""
    body = {"msgtype": "text", "text": {"content": "hi"}}
    first = send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": "order 42"})
    again = send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": " order 42 "})

    assert first.status_code == 200, first.json()
    assert again.json()["msgid"] == first.json()["msgid"]
    assert Message.objects.get().idempotency_key == "order 42"


def test_a_quoted_idempotency_key_is_the_same_key_as_the_bare_one(send, bot, group):
    """The IETF draft writes the key as an sf-string, `Idempotency-Key: "8e03…"`: its
    quotes are not part of the key, and its two escapes stand for the character."""
    body = {"msgtype": "text", "text": {"content": "hi"}}
    first = send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": '"order-42"'})
    again = send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": "order-42"})
    escaped = send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": '"say \\"hi\\" \\\\ 1"'})

    assert first.status_code == 200, first.json()
    assert again.json()["msgid"] == first.json()["msgid"]
    assert escaped.status_code == 200, escaped.json()
    assert sorted(Message.objects.values_list("idempotency_key", flat=True)) == [
        "order-42",
        'say "hi" \\ 1',
    ]


@pytest.mark.parametrize(
    "header",
    ['"order-42"', "order-42", '"say \\"hi\\" \\\\ 1"'],
    ids=["quoted", "retried bare", "escapes"],
)
def test_a_retry_across_the_upgrade_finds_the_key_stored_with_its_quotes(send, bot, group, header):
    """Before commit 417e1a5 a quoted header was stored as written, quotes and all: its
    retry within 24 hours after the upgrade answers that message again."""
    body = {"msgtype": "text", "text": {"content": "hi"}}
    first = accepted(send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": header}))
    as_written = header if header.startswith('"') else f'"{header}"'
    Message.objects.filter(pk=first.pk).update(idempotency_key=as_written)  # the old release's row

    again = send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": header})

    assert again.json()["msgid"] == first.msgid and again["Idempotent-Replayed"] == "true"
    assert Message.objects.get().idempotency_key == as_written
    other = send(bot.secret, "wrGroup1", TEXT, **{"Idempotency-Key": header})
    assert other.json()["errcode"] == 7000103  # the same key for another request, as ever


def test_a_key_stored_with_its_quotes_more_than_24_hours_ago_is_free_again(send, bot, group):
    body = {"msgtype": "text", "text": {"content": "daily"}}
    first = accepted(send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": "daily-report"}))
    Message.objects.filter(pk=first.pk).update(
        idempotency_key='"daily-report"', created_at=timezone.now() - timedelta(hours=25)
    )

    second = accepted(send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": '"daily-report"'}))

    assert second.pk != first.pk and second.idempotency_key == "daily-report"
    first.refresh_from_db()
    assert first.idempotency_key == ""


@pytest.mark.parametrize(
    ("key", "errmsg"),
    [
        ('"order-42', "starts with a quote but has no closing quote"),
        ('"order\\"', "starts with a quote but has no closing quote"),
        ('"order\\n42"', 'a backslash not followed by " or \\'),
        ('"order-42";v=1', "has characters after its closing quote"),
        ('"k-a","k-b"', "is given twice (two quoted keys joined by a comma)"),
        ('"k-a", "k-b"', "is given twice (two quoted keys joined by a comma)"),
        ('""', "must be 1-200 printable ASCII characters"),
    ],
)
def test_a_broken_quoted_idempotency_key_is_40035_and_says_why(send, bot, group, key, errmsg):
    answer = send(bot.secret, "wrGroup1", TEXT, **{"Idempotency-Key": key})

    refused(answer, 40035, 400)
    assert errmsg in answer.json()["errmsg"]
    assert not Message.objects.exists()


def test_an_idempotency_key_reused_with_another_body_is_refused(send, bot, group):
    send(
        bot.secret,
        "wrGroup1",
        {"msgtype": "text", "text": {"content": "a"}},
        **{"Idempotency-Key": "k1"},
    )
    response = send(
        bot.secret, "wrGroup1", {"msgtype": "text", "text": {"content": "b"}},
        **{"Idempotency-Key": "k1"},
    )  # fmt: skip
    assert response.status_code == 409 and response.json()["errcode"] == 7000103
    assert Message.objects.count() == 1


def test_the_same_idempotency_key_on_two_bots_stores_two_messages(
    send, bot, group, robot_bot, robot_group
):
    body = {"msgtype": "text", "text": {"content": "x"}}
    accepted(send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": "shared"}))
    accepted(send(robot_bot.secret, "robotGroup1", body, **{"Idempotency-Key": "shared"}))
    assert Message.objects.count() == 2


def test_an_idempotency_key_older_than_24_hours_no_longer_matches(send, bot, group):
    body = {"msgtype": "text", "text": {"content": "daily"}}
    first = accepted(send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": "daily-report"}))
    Message.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(hours=25))

    second = accepted(send(bot.secret, "wrGroup1", body, **{"Idempotency-Key": "daily-report"}))

    assert second.pk != first.pk and second.idempotency_key == "daily-report"
    first.refresh_from_db()
    assert first.idempotency_key == "" and first.request_hash == second.request_hash


# --- every error ----------------------------------------------------------------


TEXT = {"msgtype": "text", "text": {"content": "x"}}


@pytest.mark.parametrize("secret", ["", "wrong-" + "x" * 40, "short"])
def test_a_wrong_or_missing_secret_is_93000_with_401(send, group, secret):
    refused(send(secret, "wrGroup1", TEXT), 93000, 401)


def test_an_inactive_bot_is_7000102_with_403(send, bot, group):
    bot.is_active = False
    bot.save()
    assert "inactive" in refused(send(bot.secret, "wrGroup1", TEXT), 7000102, 403)


def test_an_unknown_conversation_is_7000101_naming_the_id(send, bot, group):
    assert "wrNope" in refused(send(bot.secret, "wrNope", TEXT), 7000101, 404)


def test_another_bots_conversation_is_unknown(send, bot, group, robot_bot, robot_group):
    refused(send(bot.secret, "robotGroup1", TEXT), 7000101, 404)


def test_a_missing_conversation_id_is_40035(send, bot, group):
    assert "conversation_id" in refused(send(bot.secret, "", TEXT), 40035, 400)


@pytest.mark.parametrize(
    "body, errcode",
    [
        ({"text": {"content": "x"}}, 40008),
        ({"msgtype": "TEXT", "text": {"content": "x"}}, 40008),
        ({"msgtype": "video", "video": {}}, 40008),
        ({"msgtype": "text"}, 44004),
        ({"msgtype": "text", "text": {"content": "   "}}, 44004),
        ({"msgtype": "text", "text": {"content": "", "mentioned_list": []}}, 44004),
        ({"msgtype": "text", "text": {"content": 5}}, 40058),
        ({"msgtype": "text", "text": {"content": "x", "mentioned_list": "zhangsan"}}, 40058),
        ({"msgtype": "link", "link": {"title": "t"}}, 40058),
        ({"msgtype": "link", "link": {"title": "t", "url": "javascript:alert(1)"}}, 40058),
        ({"msgtype": "image", "image": {}}, 40058),
        ({"msgtype": "image", "image": {"url": "ftp://x.com/a.png"}}, 40058),
        ({"msgtype": "image", "image": {"url": "https://x .com/a.png"}}, 40058),
        (
            {"msgtype": "news", "news": {"articles": [{"title": "t", "url": "https://x.com/\n"}]}},
            40058,
        ),
        ({"msgtype": "miniprogram", "miniprogram": {}}, 40058),
        ({"msgtype": "text", "text": {"content": "a\u0000b"}}, 40058),
        (["msgtype", "text"], 40035),
    ],
)
def test_invalid_bodies_get_wecoms_errcode(send, bot, group, body, errcode):
    refused(send(bot.secret, "wrGroup1", body), errcode, 400)


@pytest.mark.parametrize(
    "body, errmsg",
    [
        ({"msgtype": "text", "text": "hello"}, "text must be an object, not a string"),
        ({"msgtype": "text", "text": None}, "text must be an object, not null"),
        ({"msgtype": "markdown", "markdown": ["x"]}, "markdown must be an object, not an array"),
        ({"msgtype": 1, "text": {"content": "x"}}, "msgtype must be a string, not a number"),
        ({"msgtype": None}, "msgtype must be a string, not null"),
        ({"msgtype": ["text"]}, "msgtype must be a string, not an array"),
        ({"msgtype": "text", "text": {"content": 5}}, "text.content must be a string, not a number"),
        (
            {"msgtype": "text", "text": {"content": "x", "mentioned_list": "zhangsan"}},
            "text.mentioned_list must be an array, not a string",
        ),
        (
            {"msgtype": "text", "text": {"content": "x", "mentioned_list": [7]}},
            "text.mentioned_list.0 must be a string, not a number",
        ),
        (
            {"msgtype": "link", "link": {"title": True, "url": "https://x.com"}},
            "link.title must be a string, not a boolean",
        ),
        (
            {"msgtype": "news", "news": {"articles": {"title": "t", "url": "www.qq.com"}}},
            "news.articles must be an array, not an object",
        ),
        ({"msgtype": "news", "news": {"articles": ["t"]}}, "news.articles.0 must be an object, not a string"),
        (
            {"msgtype": "text", "text": {"content": "x"}, "reply_to": 7},
            "reply_to must be a string, not a number",
        ),
    ],
)  # fmt: skip
def test_a_field_of_the_wrong_type_is_40058_naming_the_type_it_takes(
    send, bot, group, body, errmsg
):
    assert refused(send(bot.secret, "wrGroup1", body), 40058, 400) == f"invalid field: {errmsg}"


@pytest.mark.parametrize(
    "body, errcode, errmsg",
    [
        ({"text": {"content": "x"}}, 40008, "invalid message type: msgtype is missing"),
        ({"msgtype": "", "text": {"content": "x"}}, 40008, "invalid message type: msgtype is missing"),
        ({"msgtype": "text"}, 44004, "empty content: text.content is missing"),
        ({"msgtype": "markdown"}, 44004, "empty content: markdown.content is missing"),
        ({"msgtype": "link", "link": {"title": "t"}}, 40058, "invalid field: link.url is missing"),
    ],
)  # fmt: skip
def test_an_absent_field_is_called_missing(send, bot, group, body, errcode, errmsg):
    assert refused(send(bot.secret, "wrGroup1", body), errcode, 400) == errmsg


PNG_MD5 = hashlib.md5(PNG).hexdigest()


@pytest.mark.parametrize(
    "image, errmsg",
    [
        ({"base64": "not base64!", "md5": PNG_MD5}, "invalid field: image.base64 is not base64"),
        ({"base64": "", "md5": PNG_MD5}, "invalid field: image.base64 is empty"),
        ({"base64": base64.b64encode(PNG).decode()}, "invalid field: image.md5 is missing"),
    ],
    ids=["not-base64", "empty", "no-md5"],
)
def test_an_image_in_base64_that_cannot_be_checked_is_40058_saying_why(
    send, robot_bot, robot_group, image, errmsg
):
    body = {"msgtype": "image", "image": image}
    assert refused(send(robot_bot.secret, "robotGroup1", body), 40058, 400) == errmsg


def test_base64_in_mime_lines_is_accepted_and_reaches_the_robot_without_them(
    send, wecom, wecom_bot, wecom_group, run_queue
):
    raw = PNG + bytes(200)  # several 76-character lines
    mime = base64.encodebytes(raw).decode()  # what Python's encodebytes and `base64` write
    assert "\n" in mime.strip()
    body = {"msgtype": "image", "image": {"base64": mime, "md5": hashlib.md5(raw).hexdigest()}}

    message = accepted(send(wecom_bot.secret, wecom_group.conversation_id, body))
    run_queue()

    plain = base64.b64encode(raw).decode()
    assert message.body["image"]["base64"] == plain
    message.refresh_from_db()
    assert message.status == "sent"
    assert [posted["image"]["base64"] for _, posted in wecom.messages] == [plain]


@pytest.mark.parametrize(
    "spaced",
    [
        lambda text: "\r\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + "\r\n",
        lambda text: " " + "\t".join(text[i : i + 4] for i in range(0, len(text), 4)) + "\f\v",
    ],
    ids=["crlf-lines", "spaces-and-tabs"],
)
def test_ascii_whitespace_anywhere_in_base64_is_left_out(send, robot_bot, robot_group, spaced):
    file = {"base64": spaced(base64.b64encode(AMR).decode()), "md5": hashlib.md5(AMR).hexdigest()}

    message = accepted(send(robot_bot.secret, "robotGroup1", {"msgtype": "voice", "voice": file}))

    assert message.body["voice"]["base64"] == base64.b64encode(AMR).decode()


@pytest.mark.parametrize(
    "text, errmsg",
    [
        ("iVBORw0K\u00a0GgoAAAAN", "invalid field: image.base64 is not base64"),  # not ASCII
        ("iVBO Rw0K GgoA AAAN ***", "invalid field: image.base64 is not base64"),
        (" \r\n\t ", "invalid field: image.base64 is empty"),
    ],
    ids=["no-break-space", "garbage-between-spaces", "only-whitespace"],
)
def test_base64_that_is_garbage_besides_its_whitespace_is_still_40058(
    send, robot_bot, robot_group, text, errmsg
):
    body = {"msgtype": "image", "image": {"base64": text, "md5": PNG_MD5}}
    assert refused(send(robot_bot.secret, "robotGroup1", body), 40058, 400) == errmsg


def test_a_link_with_a_blank_title_is_40058(send, bot, group):
    body = {"msgtype": "link", "link": {"title": "  ", "url": "https://example.com"}}
    errmsg = refused(send(bot.secret, "wrGroup1", body), 40058, 400)
    assert errmsg == "invalid field: link.title is empty"


def test_a_blank_reply_to_is_40058(send, listless_bot, make_conversation):
    make_conversation(listless_bot, "wrAibotGroup")
    body = {"msgtype": "markdown", "markdown": {"content": "ok"}, "reply_to": " "}
    errmsg = refused(send(listless_bot.secret, "wrAibotGroup", body), 40058, 400)
    assert errmsg == "invalid field: reply_to is empty"


def test_a_reply_to_a_message_never_received_names_it_as_no_such_message_does(
    send, listless_bot, make_conversation
):
    make_conversation(listless_bot, "wrAibotGroup")
    body = {"msgtype": "markdown", "markdown": {"content": "ok"}, "reply_to": "a\nb" + "x" * 100}
    errmsg = refused(send(listless_bot.secret, "wrAibotGroup", body), 40058, 400)
    assert errmsg == (
        f"invalid field: reply_to: no message 'a\\nb{'x' * 61}…' was received in this conversation"
    )


def test_voice_to_a_connector_that_sends_no_voice_is_40008_naming_what_it_sends(send, bot, group):
    body = {"msgtype": "voice", "voice": {"url": "https://example.com/v.amr"}}
    errmsg = refused(send(bot.secret, "wrGroup1", body), 40008, 400)
    assert "msgtype voice cannot be sent by a" in errmsg


def test_a_file_to_a_connector_that_sends_no_files_is_40008_naming_what_it_sends(send, bot, group):
    body = {"msgtype": "file", "file": {"url": "https://example.com/r.pdf"}}
    errmsg = refused(send(bot.secret, "wrGroup1", body), 40008, 400)
    assert "cannot be sent by a" in errmsg and "file" in errmsg


def test_a_robot_file_of_5_bytes_or_less_is_40058_as_upload_media_would_refuse_it(
    send, robot_bot, robot_group
):
    raw = b"12345"
    file = {"base64": base64.b64encode(raw).decode(), "md5": hashlib.md5(raw).hexdigest()}
    errmsg = refused(
        send(robot_bot.secret, "robotGroup1", {"msgtype": "file", "file": file}), 40058, 400
    )
    assert "6 bytes" in errmsg


def test_a_miniprogram_to_a_robot_bot_is_refused_at_once_with_40008(send, robot_bot, robot_group):
    body = {"msgtype": "miniprogram", "miniprogram": {"appid": "a", "title": "t", "page_path": "p"}}
    errmsg = refused(send(robot_bot.secret, "robotGroup1", body), 40008, 400)
    assert "miniprogram" in errmsg and "WeCom group robot" in errmsg


def test_markdown_to_a_bridge_bot_is_accepted_and_stored_as_sent(send, bot, group):
    body = {"msgtype": "markdown", "markdown": {"content": "# hi"}}
    message = accepted(send(bot.secret, "wrGroup1", body))
    assert message.body == body  # converted at delivery, to what the agent sends then


def test_a_robot_text_over_2048_bytes_is_40058_naming_the_limit(send, robot_bot, robot_group):
    body = {"msgtype": "text", "text": {"content": "字" * 683}}  # 2049 bytes
    errmsg = refused(send(robot_bot.secret, "robotGroup1", body), 40058, 400)
    assert "text.content exceed max length 2048" in errmsg


def test_a_bridge_text_may_be_longer_than_a_robot_text(send, bot, group):
    accepted(send(bot.secret, "wrGroup1", {"msgtype": "text", "text": {"content": "字" * 2000}}))


def test_an_empty_robot_markdown_is_44004(send, robot_bot, robot_group):
    for msgtype in ("markdown", "markdown_v2"):
        body = {"msgtype": msgtype, msgtype: {"content": ""}, "text": {"content": "x"}}
        refused(send(robot_bot.secret, "robotGroup1", body), 44004, 400)


def test_a_robot_markdown_over_4096_bytes_is_40058(send, robot_bot, robot_group):
    body = {"msgtype": "markdown", "markdown": {"content": "a" * 4097}}
    refused(send(robot_bot.secret, "robotGroup1", body), 40058, 400)


def test_news_with_no_or_nine_articles_is_40058(send, robot_bot, robot_group):
    article = {"title": "t", "url": "https://x.com"}
    for articles in ([], [article] * 9):
        body = {"msgtype": "news", "news": {"articles": articles}}
        refused(send(robot_bot.secret, "robotGroup1", body), 40058, 400)


def test_an_image_whose_md5_does_not_match_is_301019(send, robot_bot, robot_group):
    refused(send(robot_bot.secret, "robotGroup1", image_body(md5="0" * 32)), 301019, 400)


def test_an_image_that_is_not_jpg_or_png_or_too_big_is_40058(send, robot_bot, robot_group):
    refused(send(robot_bot.secret, "robotGroup1", image_body(b"GIF89a....")), 40058, 400)
    big = b"\xff\xd8\xff" + bytes(2 * 1024 * 1024)
    refused(send(robot_bot.secret, "robotGroup1", image_body(big)), 40058, 400)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b"\xff\xfe\x00garbage",
        b'{"a": 1' + b"}" * 3,
        b'{"msgtype": "text", "text": {"content": "hi"}, "x": NaN}',  # Python's, not JSON
        b'{"msgtype": "text", "text": {"content": "hi", "x": -Infinity}}',
    ],
)
def test_a_body_that_is_not_json_is_7000001(send, bot, group, raw):
    errmsg = refused(send(bot.secret, "wrGroup1", raw), 7000001, 400)
    assert errmsg.startswith("Warning: wrong json format.")


def test_a_body_over_the_limit_is_7000002_with_413(send, bot, group, settings):
    settings.BOTADMIN_SEND_MAX_BODY_BYTES = 1000
    body = {"msgtype": "text", "text": {"content": "x" * 2000}}
    refused(send(bot.secret, "wrGroup1", body), 7000002, 413)


@pytest.mark.parametrize("levels", [33, 10_000])
def test_a_body_nested_too_deeply_is_7000004(send, bot, group, levels):
    body = b'{"msgtype": "text", "text": {"content": "x"}, "extra": HERE}'
    deep = body.replace(b"HERE", b"[" * (levels - 1) + b"]" * (levels - 1))

    assert "32 levels" in refused(send(bot.secret, "wrGroup1", deep), 7000004, 400)


def test_unclosed_brackets_past_the_depth_limit_are_7000004(send, bot, group):
    refused(send(bot.secret, "wrGroup1", b"[" * 100_000), 7000004, 400)


def test_a_deep_body_with_a_wrong_secret_is_93000(send, bot, group):
    refused(send("s" * len(bot.secret), "wrGroup1", b"[" * 10_000 + b"]" * 10_000), 93000, 401)


def test_an_image_of_2_mb_fits_in_the_default_body_limit(send, robot_bot, robot_group):
    raw = b"\x89PNG\r\n\x1a\n" + bytes(2 * 1024 * 1024 - 8)
    accepted(send(robot_bot.secret, "robotGroup1", image_body(raw)))


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "application/xml"])
def test_a_non_json_content_type_is_7000003_with_415(send, bot, group, content_type):
    refused(send(bot.secret, "wrGroup1", b"{}", content_type=content_type), 7000003, 415)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_a_wrong_method_is_7000405_with_405(client, bot, group, method):
    response = getattr(client, method)(f"/api/send?secret={bot.secret}&conversation_id=wrGroup1")
    assert response.status_code == 405
    assert response.json()["errcode"] == 7000405 and response["Allow"] == "POST"


def test_a_head_request_is_405_without_a_body(client, bot):
    assert client.head(f"/api/send?secret={bot.secret}").status_code == 405


@pytest.mark.parametrize(
    "send_at",
    [
        "tomorrow",
        "2026-13-45T00:00:00",
        "9" * 30,
        "nan",
        # A space stands for a '+' only between a time and an offset.
        "09:00:00 08:00",
        "2026-12-31T09:00:00 8:00",
        "2026-12-31T09:00:00 08:00 later",
    ],
)
def test_an_unreadable_send_at_is_40035(send, bot, group, send_at):
    refused(send(bot.secret, "wrGroup1", TEXT, query={"send_at": send_at}), 40035, 400)


@pytest.mark.parametrize(
    "send_at, got", [(True, "a boolean"), ({}, "an object"), ([1], "an array"), (1.5e9, "a number")]
)
def test_a_send_at_of_the_wrong_type_in_the_body_is_40058(send, bot, group, send_at, got):
    """true and an object were 40035 while a fractional number was 40058."""
    errmsg = refused(send(bot.secret, "wrGroup1", {**TEXT, "send_at": send_at}), 40058, 400)

    assert errmsg == f"invalid field: send_at must be a string or an integer, not {got}"


@pytest.mark.parametrize("written", ["2026-12-30t10:00:00z", "2026-12-30T10:00:00z"])
def test_a_send_at_with_rfc_3339s_lowercase_t_and_z_is_read(send, bot, group, written):
    with time_machine.travel("2026-12-30 09:00:00+00:00", tick=False):
        response = send(bot.secret, "wrGroup1", TEXT, query={"send_at": written})

    assert response.status_code == 200, response.content
    assert response.json()["send_at"] == "2026-12-30T10:00:00+00:00"


@pytest.mark.parametrize(
    "send_at",
    ["2026-12-31T09:00:00%2B08:00", "2026-12-31T09:00:00+08:00", "2026-12-31+09:00:00+0800"],
    ids=["plus encoded", "plus as written", "plus for both spaces"],
)
def test_a_send_at_with_a_plus_offset_is_read_whether_or_not_the_query_encoded_it(
    client, bot, group, send_at
):
    """A query string's bare '+' arrives as a space, as in docs/api.md's example once."""
    url = f"/api/send?secret={bot.secret}&conversation_id=wrGroup1&send_at={send_at}"
    with time_machine.travel("2026-12-30 09:00:00+00:00", tick=False):
        response = client.post(url, data=json.dumps(TEXT), content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json()["send_at"] == "2026-12-31T09:00:00+08:00"
    assert Message.objects.get().status == Message.Status.SCHEDULED


def test_a_send_at_more_than_a_year_ahead_is_40035(send, bot, group):
    far = (timezone.now() + timedelta(days=400)).isoformat()
    refused(send(bot.secret, "wrGroup1", TEXT, query={"send_at": far}), 40035, 400)


@pytest.mark.parametrize("key", ["x" * 201, "中文", "tab\there", "   "])
def test_a_malformed_idempotency_key_is_40035(send, bot, group, key):
    headers = {"Idempotency-Key": key.encode().decode("latin-1")}
    refused(send(bot.secret, "wrGroup1", TEXT, **headers), 40035, 400)


@time_machine.travel("2026-06-01 10:00:30+00:00", tick=False)  # not at a window's edge
def test_over_the_rate_limit_is_45009_with_retry_after(send, bot, group, settings):
    settings.BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        accepted(send(bot.secret, "wrGroup1", TEXT))
    response = send(bot.secret, "wrGroup1", TEXT)
    assert response.status_code == 429 and response.json()["errcode"] == 45009
    assert response["Retry-After"] == "31"
    assert Message.objects.count() == 3


def test_the_rate_limit_counts_each_bot_separately(
    send, bot, group, robot_bot, robot_group, settings
):
    settings.BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE = 1
    accepted(send(bot.secret, "wrGroup1", TEXT))
    accepted(send(robot_bot.secret, "robotGroup1", TEXT))


def test_an_answer_is_json_in_the_envelope_even_for_an_unknown_api_path(client, db):
    response = client.post("/api/sendx", b"{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["errcode"] == 7000404


def test_the_openapi_body_schema_lists_every_msgtype(client, db):
    spec = json.loads(client.get("/api/openapi.json").content)
    operation = spec["paths"]["/api/send"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    msgtypes = {variant["properties"]["msgtype"]["const"] for variant in schema["oneOf"]}
    assert msgtypes == {
        "text",
        "markdown",
        "markdown_v2",
        "link",
        "image",
        "miniprogram",
        "news",
        "file",
        "voice",
        "template_card",
    }
    assert {p["name"] for p in operation["parameters"]} >= {"conversation_id"}
    assert operation["security"] == [{"BotSecret": []}]
    assert "$ref" not in json.dumps(schema)


NOTICE = {
    "card_type": "text_notice",
    "main_title": {"title": "ci"},
    "card_action": {"type": 1, "url": "https://ci.example"},
}
MENU = {"action_list": [{"text": "不再推送", "key": "unsubscribe"}]}
POLL = {"card_type": "vote_interaction", "task_id": "poll-1"}


@pytest.mark.parametrize(
    "card, accepted",
    [
        (NOTICE, True),
        ({**NOTICE, "task_id": "ci-42@main_7"}, True),
        ({**NOTICE, "task_id": "t" * 128}, True),
        ({**NOTICE, "task_id": "t" * 129}, False),
        ({**NOTICE, "task_id": "任务"}, False),
        ({**NOTICE, "task_id": "ci 42"}, False),
        ({**NOTICE, "task_id": ""}, True),  # left out of the card
        ({**NOTICE, "task_id": None}, True),
        ({**NOTICE, "action_menu": MENU}, False),
        ({**NOTICE, "action_menu": MENU, "task_id": ""}, False),
        ({**NOTICE, "action_menu": MENU, "task_id": "m1"}, True),
        ({"card_type": "vote_interaction"}, False),
        ({"card_type": "vote_interaction", "task_id": ""}, False),
        ({"card_type": "vote_interaction", "task_id": None}, False),
        ({"card_type": "vote_interaction", "task_id": "poll-1"}, True),
        ({**NOTICE, "card_action": {}}, False),
        ({**NOTICE, "card_action": None}, False),
        ({**NOTICE, "card_action": {"type": 0, "url": "https://ci.example"}}, False),
        ({**NOTICE, "card_action": {"type": "1", "url": "https://ci.example"}}, False),
        ({**NOTICE, "card_action": {"type": 1, "url": " "}}, False),
        ({**NOTICE, "card_action": {"type": 1, "appid": "wx1"}}, False),
        ({**NOTICE, "card_action": {"type": 2, "appid": "wx1"}}, True),
        ({**NOTICE, "card_action": {"type": 1, "url": "https://ci.example", "appid": ""}}, True),
        ({**POLL, "card_action": {"type": 0}}, True),
        ({**POLL, "card_action": {}}, True),
        ({**POLL, "card_action": None}, True),
        ({**POLL, "card_action": {"type": 1}}, False),
        ({**POLL, "card_action": "https://ci.example"}, False),
    ],
)
def test_the_openapi_body_schema_says_which_task_ids_a_card_takes(client, db, card, accepted):
    """The task_id rules validation applies (40058) are in /api/openapi.json too: its
    characters, its length, and when a card needs one (a WeCom app takes every card);
    so are the card_action rules (what a click opens)."""
    body = {"msgtype": "template_card", "template_card": card}

    assert schema_accepts(client, body) is validated_for_an_app(body) is accepted


def schema_accepts(client, body: dict) -> bool:
    """Whether /api/openapi.json's schema of the send body takes `body`."""
    spec = json.loads(client.get("/api/openapi.json").content)
    schema = spec["paths"]["/api/send"]["post"]["requestBody"]["content"]["application/json"]
    return Draft202012Validator(schema["schema"]).is_valid(body)


def validated_for_an_app(body: dict) -> bool:
    """Whether a WeCom app bot (which takes every card) would send `body`; else 40058."""
    try:
        validate_outbound(Bot(name="app", connector="wecom_app"), json.loads(json.dumps(body)))
    except ApiError as error:
        assert error.errcode == 40058
        return False
    return True


@time_machine.travel("2026-06-01 10:00:30+00:00", tick=False)
def test_the_rate_limit_admits_exactly_the_limit_in_a_minute(bot):
    from botadmin.errors import ApiError
    from messaging.ratelimit import check_send_rate

    for _ in range(250):
        check_send_rate(bot.pk, limit=250)
    with pytest.raises(ApiError) as raised:
        check_send_rate(bot.pk, limit=250)
    assert raised.value.errcode == 45009


@pytest.mark.parametrize("conversation_id", ["wr\x00", "x" * 256])
def test_a_malformed_conversation_id_is_40035_even_with_a_wrong_secret_format(
    send, bot, group, conversation_id
):
    """Found by the fuzzer: PostgreSQL refuses NUL in a query parameter."""
    refused(send(bot.secret, conversation_id, TEXT), 40035, 400)
    refused(send("y" * 43, conversation_id, TEXT), 93000, 401)


# --- a query parameter given twice ---------------------------------------------------


def _send_with_query(client, query: str):
    body = json.dumps({"msgtype": "text", "text": {"content": "hi"}})
    return client.post(f"/api/send?{query}", data=body, content_type="application/json")


def test_two_different_secrets_in_the_query_are_refused_whichever_is_right(client, bot, group):
    for query in (
        f"secret={bot.secret}&secret=wrong&conversation_id=wrGroup1",
        f"secret=wrong&secret={bot.secret}&conversation_id=wrGroup1",
    ):
        errmsg = refused(_send_with_query(client, query), 7000005, 400)
        assert errmsg == "two different secrets: the query string gives secret twice"
    assert not Message.objects.exists()


def test_two_different_conversation_ids_in_the_query_are_refused(client, bot, group):
    query = f"secret={bot.secret}&conversation_id=wrGroup1&conversation_id=wrOther"
    errmsg = refused(_send_with_query(client, query), 40035, 400)
    assert errmsg == "invalid parameter: conversation_id is given twice with different values"
    assert not Message.objects.exists()


def test_the_same_secret_and_conversation_id_twice_are_one_each(client, bot, group):
    query = (
        f"secret={bot.secret}&secret={bot.secret}&conversation_id=wrGroup1&conversation_id=wrGroup1"
    )
    accepted(_send_with_query(client, query))
