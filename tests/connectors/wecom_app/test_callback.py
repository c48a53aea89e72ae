"""The callback URL of an app bot: WeCom's URL check and encrypted messages, encrypted by wechatpy."""

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse
from standardwebhooks.webhooks import Webhook
from wechatpy.enterprise.crypto import WeChatCrypto

from connectors.wecom_app_callback import last_status
from connectors.wecom_app_crypto import CallbackCrypto
from conversations.models import Bot
from devtools.receiver import Receiver
from messaging.models import Message, MessageMedia
from tests.messaging.support import forward_due, primary_signing_secret

from .conftest import AES_KEY, AGENT_ID, CORP_ID, TOKEN
from .test_crypto import SAMPLE_BODY, SAMPLE_POST

TEXT = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[zhangsan]]>"
    "</FromUserName><CreateTime>1733100000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[你好]]></Content><MsgId>7459000000000000001</MsgId>"
    "<AgentID>1000002</AgentID></xml>"
)


def wecom(corp=CORP_ID, token=TOKEN, key=AES_KEY) -> WeChatCrypto:
    """How WeCom encrypts: wechatpy, an implementation independent of ours."""
    return WeChatCrypto(token, key, corp)


def url(bot: Bot) -> str:
    return reverse("wecom_app_callback", args=[bot.pk])


def post_encrypted(client, bot, xml: str, crypto: WeChatCrypto | None = None, **query):
    nonce, timestamp = "1597212914", str(int(time.time()))
    sealed = (crypto or wecom()).encrypt_message(xml, nonce, timestamp)
    signature = sealed.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce} | query
    return client.post(url(bot), data=sealed, content_type="text/xml", query_params=params)


def _url_check(bot, crypto, plain="1288432023552776189"):
    nonce, timestamp = "47744683", "1476416373"
    sealed = crypto.encrypt_message(plain, nonce, timestamp)
    echostr = sealed.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    signature = sealed.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr}


def test_a_correctly_signed_url_check_is_answered_with_its_plaintext_only(client, app_bot):
    response = client.get(url(app_bot), _url_check(app_bot, wecom()))

    assert response.status_code == 200
    assert response.content == b"1288432023552776189"


def test_wecoms_sample_url_check_is_answered(client, app_bot):
    # The values of WeCom's WXBizMsgCrypt sample (the bot uses the sample's token and key).
    response = client.get(
        url(app_bot),
        {
            "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
            "timestamp": "1476416373",
            "nonce": "47744683",
            "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
        },
    )

    assert response.content == b"1288432023552776189"


def test_wecoms_sample_url_check_is_answered_from_the_query_string_as_wecom_writes_it(
    client, app_bot
):
    # WeCom percent-encodes echostr ("+" as %2B, "/" as %2F, "=" as %3D); decoded once.
    query = (
        "msg_signature=012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb&timestamp=1476416373"
        "&nonce=47744683&echostr=fsi1xnbH4yQh0%2BPJxcOdhhK6TDXkjMyhEPA7xB2TGz6b%2Bg7xyAbEkRx"
        "N%2F3cNXW9qdqjnoVzEtpbhnFyq6SVHyA%3D%3D"
    )

    response = client.get(f"{url(app_bot)}?{query}")

    assert (response.status_code, response.content) == (200, b"1288432023552776189")
    assert response["Content-Type"] == "text/plain; charset=utf-8"


@time_machine.travel(1476422779 + 60)  # signed at the sample's time, received a minute later
def test_wecoms_sample_message_is_stored(client, app_bot):
    # WXBizMsgCrypt's Sample.py: its POST body (newlines, AgentID in CDATA) and query.
    response = client.post(
        url(app_bot), data=SAMPLE_BODY, content_type="text/xml", query_params=SAMPLE_POST
    )

    assert (response.status_code, response.content) == (200, b"")
    message = Message.objects.get()
    assert (message.sender_id, message.upstream_msgid) == ("ChenJiaShun", "1456453720")
    assert message.body["text"] == {"content": "你好"}


def test_a_message_posted_in_the_specs_shape_with_its_agent_id_is_stored(client, app_bot):
    """The POST body shared/spec/wecom-app.md shows: ToUserName, AgentID, Encrypt."""
    xml = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>zhangsan</FromUserName>"
        "<CreateTime>1733100000</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
        f"<MsgId>7459000001</MsgId><AgentID>{AGENT_ID}</AgentID></xml>"
    )
    timestamp = str(int(time.time()))
    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    body, query = crypto.encrypt_message(xml, "1597212914", timestamp, agent_id=AGENT_ID)
    assert [element.tag for element in ET.fromstring(body)] == [  # noqa: S314 (ours)
        "ToUserName",
        "AgentID",
        "Encrypt",
    ]

    response = client.post(url(app_bot), data=body, content_type="text/xml", query_params=query)

    assert (response.status_code, response.content) == (200, b"")
    assert Message.objects.get().body["text"] == {"content": "你好"}


def test_a_wrongly_signed_url_check_is_refused(client, app_bot):
    params = _url_check(app_bot, wecom(token="another-token-aaaaaaaaaaaaaaaaaaa"))

    response = client.get(url(app_bot), params)

    assert response.status_code == 403 and b"1288432023552776189" not in response.content


def test_an_encrypted_text_is_stored_once_when_posted_three_times_and_forwarded_signed(
    client, app_bot
):
    with Receiver() as receiver:
        app_bot.webhook_url = receiver.url("/hook")
        app_bot.save()
        xml = TEXT.format(corp=CORP_ID)
        answers = [post_encrypted(client, app_bot, xml) for _ in range(3)]

        assert [(a.status_code, a.content) for a in answers] == [(200, b"")] * 3
        message = Message.objects.get()
        assert (message.direction, message.msgtype, message.sender_id) == ("in", "text", "zhangsan")
        assert message.upstream_msgid == "7459000000000000001"
        assert message.conversation.kind == "user"

        assert forward_due() == ["success"]
        (request,) = receiver.requests
    verified = Webhook(primary_signing_secret(app_bot)).verify(request.body, request.headers)
    assert verified == {
        "secret": app_bot.secret,  # the seed's forwarded body carries it
        "msgtype": "text",
        "conversation_id": "zhangsan",
        "conversation_type": "user",
        "sender": "zhangsan",
        "timestamp": 1733100000,
        "msgid": "7459000000000000001",
        "text": {"content": "你好"},
        "agent_id": "1000002",
    }


def test_a_texts_own_spaces_and_line_breaks_are_kept(client, app_bot):
    content = "  def f():\n      return 1\n"
    xml = TEXT.format(corp=CORP_ID).replace("你好", content)

    assert post_encrypted(client, app_bot, xml).status_code == 200

    assert Message.objects.get().body["text"] == {"content": content}


def test_a_message_with_a_bad_signature_is_refused_and_stored_nowhere(client, app_bot):
    response = post_encrypted(client, app_bot, TEXT.format(corp=CORP_ID), msg_signature="0" * 40)

    assert response.status_code == 403
    assert not Message.objects.exists()


def test_a_body_in_an_unreadable_encoding_is_refused_not_an_error(client, app_bot):
    body = '<?xml version="1.0" encoding="UTF-16-BE"?><xml><Encrypt>AAAA</Encrypt></xml>'
    params = {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "2"}

    response = client.post(
        url(app_bot), data=body.encode("utf-16-be"), content_type="text/xml", query_params=params
    )

    assert response.status_code == 403
    assert not Message.objects.exists()


def test_a_message_for_another_corp_is_refused_and_stored_nowhere(client, app_bot):
    other = wecom(corp="wwSomeoneElse00000")
    response = post_encrypted(client, app_bot, TEXT.format(corp="wwSomeoneElse00000"), other)

    assert response.status_code == 403
    assert not Message.objects.exists()


def test_an_image_keeps_its_media_reference_for_later(client, app_bot):
    xml = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>lisi</FromUserName>"
        "<CreateTime>1733100001</CreateTime><MsgType>image</MsgType>"
        "<PicUrl>https://wework.qpic.cn/x.png</PicUrl><MediaId>MEDIA1</MediaId>"
        "<MsgId>2</MsgId><AgentID>1000002</AgentID></xml>"
    )

    assert post_encrypted(client, app_bot, xml).status_code == 200

    message = Message.objects.get()
    assert message.body["image"]["pic_url"] == "https://wework.qpic.cn/x.png"
    media = MessageMedia.objects.get(message=message)
    assert (media.cdn_type, media.cdn) == ("wecom_app_media", "MEDIA1")


def test_events_are_kept_raw_and_deduplicated_by_sender_time_and_event(client, app_bot):
    xml = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>lisi</FromUserName>"
        "<CreateTime>1733100002</CreateTime><MsgType>event</MsgType>"
        "<Event>enter_agent</Event><EventKey></EventKey><AgentID>1000002</AgentID></xml>"
    )

    post_encrypted(client, app_bot, xml)
    post_encrypted(client, app_bot, xml)

    message = Message.objects.get()
    assert message.msgtype == "event" and message.body["event"]["Event"] == "enter_agent"


@pytest.mark.parametrize(
    ("msgtype", "fields"),
    [
        ("voice", "<MediaId>V1</MediaId><Format>amr</Format>"),
        ("location", "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y>"),
        ("link", "<Title>t</Title><Description>d</Description><Url>https://x.cn</Url>"),
    ],
)
def test_other_msgtypes_are_stored(client, app_bot, msgtype, fields):
    xml = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>lisi</FromUserName>"
        f"<CreateTime>1733100003</CreateTime><MsgType>{msgtype}</MsgType>{fields}"
        f"<MsgId>9{len(fields)}</MsgId><AgentID>1000002</AgentID></xml>"
    )

    assert post_encrypted(client, app_bot, xml).status_code == 200

    assert Message.objects.get().msgtype == msgtype


def test_a_bot_of_another_connector_has_no_app_callback(client, bot):
    assert client.get(url(bot), {"echostr": "x"}).status_code == 404


CALLBACKS = Path(__file__).parent / "callbacks"


def _callback(name: str) -> str:
    return (CALLBACKS / f"{name}.xml").read_text()


def test_a_card_click_keeps_every_selected_option(client, app_bot):
    assert post_encrypted(client, app_bot, _callback("template_card_event")).status_code == 200

    event = Message.objects.get().body["event"]
    assert event["TaskId"] == "task-20241202-1" and event["ResponseCode"] == "allow-update-for-72h"
    # Lists also where one item or one option was chosen, so an agent reads one shape.
    assert event["SelectedItems"] == {
        "SelectedItem": [
            {"QuestionKey": "meal", "OptionIds": {"OptionId": ["noodles", "rice"]}},
            {"QuestionKey": "drink", "OptionIds": {"OptionId": ["tea"]}},
        ]
    }


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        (
            "scancode_waitmsg",
            "ScanCodeInfo",
            {"ScanType": "qrcode", "ScanResult": "https://example.com/asset/42"},
        ),
        (
            "pic_sysphoto",
            "SendPicsInfo",
            {
                "Count": "1",
                "PicList": {"item": [{"PicMd5Sum": "1b5f7c23b5bf75682a53e7b6d163e185"}]},
            },
        ),
    ],
)
def test_what_a_menu_event_carries_in_nested_elements_is_kept(client, app_bot, name, field, value):
    assert post_encrypted(client, app_bot, _callback(name)).status_code == 200

    assert Message.objects.get().body["event"][field] == value


def test_two_events_from_one_member_in_one_second_are_two_and_each_repeat_is_dropped(
    client, app_bot
):
    # Sender + time + event alone would merge two menu clicks in the same second.
    click = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>zhangsan</FromUserName>"
        "<CreateTime>1733100400</CreateTime><MsgType>event</MsgType><Event>click</Event>"
        "<EventKey>{key}</EventKey><AgentID>1000002</AgentID></xml>"
    )
    for key in ["leave", "payslip", "leave", "payslip"]:
        assert post_encrypted(client, app_bot, click.replace("{key}", key)).status_code == 200

    clicked = Message.objects.order_by("pk").values_list("body__event__EventKey", flat=True)
    assert list(clicked) == ["leave", "payslip"]


def _listed_users(client, bot) -> list[str]:
    return [
        u["conversation_id"]
        for u in client.get("/api/users", {"secret": bot.secret}).json()["data"]
    ]


def test_a_member_who_unsubscribes_is_inactive_until_they_subscribe_again(client, app_bot, member):
    assert post_encrypted(client, app_bot, _callback("unsubscribe_zhangsan")).status_code == 200

    member.refresh_from_db()
    assert not member.is_active  # as a sync leaves a member it no longer sees
    assert "zhangsan" not in _listed_users(client, app_bot)

    assert post_encrypted(client, app_bot, _callback("subscribe_zhangsan")).status_code == 200

    member.refresh_from_db()
    assert member.is_active and "zhangsan" in _listed_users(client, app_bot)
    events = Message.objects.filter(conversation=member).order_by("pk")
    assert [m.body["event"]["Event"] for m in events] == ["unsubscribe", "subscribe"]

    # WeCom's repeat of the older unsubscribe, after the subscribe, changes nothing.
    assert post_encrypted(client, app_bot, _callback("unsubscribe_zhangsan")).status_code == 200
    member.refresh_from_db()
    assert member.is_active


def post_encrypted_at(client, bot, xml: str, timestamp: int):
    """A message WeCom signed and encrypted at `timestamp` (Unix seconds), as a replay of a
    captured one arrives: its signature is good, its time is not now."""
    nonce = "1597212914"
    sealed = wecom().encrypt_message(xml, nonce, str(timestamp))
    signature = sealed.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    params = {"msg_signature": signature, "timestamp": str(timestamp), "nonce": nonce}
    return client.post(url(bot), data=sealed, content_type="text/xml", query_params=params)


@pytest.mark.parametrize(
    ("offset", "said"),
    [(-3610, r"timestamp is 36\d\d s old, more than 3600 s"), (3610, r"36\d\d s ahead")],
)
def test_a_message_signed_more_than_an_hour_from_now_is_refused_and_stored_nowhere(
    client, app_bot, offset, said
):
    """A replay of a captured callback, or a clock that is wrong: the status line says so."""
    response = post_encrypted_at(
        client, app_bot, TEXT.format(corp=CORP_ID), int(time.time()) + offset
    )

    assert response.status_code == 403
    assert not Message.objects.exists()
    status = last_status(app_bot.pk)["callback"]
    assert status["ok"] is False and re.search(said, status["detail"]), status


def test_a_message_signed_within_the_hour_is_stored(client, app_bot):
    response = post_encrypted_at(
        client, app_bot, TEXT.format(corp=CORP_ID), int(time.time()) - 3590
    )

    assert (response.status_code, response.content) == (200, b"")
    assert Message.objects.get().body["text"] == {"content": "你好"}


def test_the_longest_age_is_a_setting_and_0_takes_any(client, app_bot, settings):
    two_minutes_ago = int(time.time()) - 120
    settings.WECOM_APP_CALLBACK_MAX_AGE_SECONDS = 60
    assert (
        post_encrypted_at(client, app_bot, TEXT.format(corp=CORP_ID), two_minutes_ago).status_code
        == 403
    )

    settings.WECOM_APP_CALLBACK_MAX_AGE_SECONDS = 0
    assert (
        post_encrypted_at(client, app_bot, TEXT.format(corp=CORP_ID), two_minutes_ago).status_code
        == 200
    )
    assert Message.objects.count() == 1
