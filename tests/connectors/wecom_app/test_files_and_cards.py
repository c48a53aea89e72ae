"""The app connector's files, template cards and mini program notices, through the delivery
engine against the fake WeCom application API."""

import base64
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from connectors.registry import connector_for
from conversations.models import Conversation
from devtools.receiver import Receiver
from messaging.models import Message
from tests.connectors.test_filenames import NAMES_FROM_URLS
from tests.connectors.wecom_robot.test_delivery import png_bytes

from .conftest import AGENT_ID, app_settings

REPORT = b"%PDF-1.4 quarterly report " * 40
CARD = {
    "card_type": "text_notice",
    "source": {"desc": "人事"},
    "main_title": {"title": "请假审批", "desc": "张三 3 天"},
    "emphasis_content": {"title": "3", "desc": "天"},
    "card_action": {"type": 1, "url": "https://example.com/leave/7"},
}


def file_by_url(url: str, **extra) -> dict:
    return {"msgtype": "file", "file": {"url": url, **extra}}


@pytest.fixture
def chat(app_api, app_bot, make_conversation) -> Conversation:
    chatid = connector_for(app_bot).create_group("项目群", "zhangsan", ["zhangsan", "lisi"])
    return make_conversation(app_bot, chatid, name="项目群")


def test_a_file_is_uploaded_as_a_file_once_and_its_media_id_reused_for_members_and_chats(
    app_api, member, chat, queue_message, run_queue
):
    with Receiver() as host:
        host.respond(200, REPORT, {"Content-Type": "application/pdf"})
        queue_message(member, file_by_url(host.url("/files/q3.pdf?sig=1")))
        queue_message(chat, file_by_url(host.url("/files/q3.pdf?sig=1")))
        run_queue()

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    uploads = [r for r in app_api.requests if r[0] == "media/upload"]
    assert len(uploads) == 1 and '"type": "file"' in uploads[0][1]
    assert b'filename="q3.pdf"' in uploads[0][2]
    (to_member, to_chat) = app_api.sent
    assert to_member[0] == "message/send" and to_member[1]["touser"] == "zhangsan"
    assert to_member[1]["agentid"] == AGENT_ID
    assert to_chat[0] == "appchat/send" and to_chat[1]["chatid"] == chat.conversation_id
    media_id = to_member[1]["file"]["media_id"]
    assert to_chat[1] == {
        "msgtype": "file",
        "file": {"media_id": media_id},
        "chatid": chat.conversation_id,
    }
    assert app_api.media[media_id][:2] == (REPORT, "file")


def test_a_base64_file_goes_with_its_name(app_api, member, queue_message, run_queue):
    body = {
        "msgtype": "file",
        "file": {
            "base64": base64.b64encode(REPORT).decode(),
            "md5": hashlib.md5(REPORT).hexdigest(),
            "name": "季度报告.pdf",
        },
    }
    queue_message(member, body)
    run_queue()

    upload = next(r for r in app_api.requests if r[0] == "media/upload")
    assert 'filename="季度报告.pdf"'.encode() in upload[2]
    ((_, sent),) = app_api.sent
    assert app_api.media[sent["file"]["media_id"]][0] == REPORT


def test_the_same_bytes_under_another_name_are_uploaded_again_with_that_name(
    app_api, member, queue_message, run_queue
):
    for name in ("季度报告.pdf", "季度报告-终稿.pdf", "季度报告.pdf"):
        queue_message(member, base64_body("file", REPORT, name=name))
    run_queue()

    assert [filename for _, filename, _ in app_api.uploads] == ["季度报告.pdf", "季度报告-终稿.pdf"]
    first, second, third = (sent["file"]["media_id"] for _, sent in app_api.sent)
    assert first == third != second


def test_a_file_whose_media_id_expired_is_uploaded_again(app_api, member, queue_message, run_queue):
    with Receiver() as host:
        host.respond(200, REPORT, {"Content-Type": "application/pdf"})
        queue_message(member, file_by_url(host.url("/r.pdf")))
        run_queue()
        app_api.media.clear()  # WeCom forgot it before the 3 days were over
        queue_message(member, file_by_url(host.url("/r.pdf")))
        run_queue()

    assert Message.objects.filter(status="sent").count() == 2
    assert len([r for r in app_api.requests if r[0] == "media/upload"]) == 2


def test_a_template_card_reaches_a_member_with_every_field_it_was_given(
    app_api, member, queue_message, run_queue
):
    queue_message(member, {"msgtype": "template_card", "template_card": CARD})
    run_queue()

    ((path, sent),) = app_api.sent
    assert path == "message/send"
    assert sent == {
        "msgtype": "template_card",
        "template_card": CARD,
        "touser": "zhangsan",
        "agentid": AGENT_ID,
    }
    assert Message.objects.get().status == "sent"


def test_a_template_card_to_an_app_chat_fails_saying_why(app_api, chat, queue_message, run_queue):
    message = queue_message(chat, {"msgtype": "template_card", "template_card": CARD})
    run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert "members" in message.last_error
    assert app_api.sent == []


MINI = {"appid": "wx123456", "title": "报销", "page_path": "pages/claim/index", "appname": "费控"}


def test_a_mini_program_is_a_notice_when_the_app_has_mini_programs_linked(
    app_api, app_bot, member, queue_message, run_queue
):
    app_api.linked_miniprograms = {"wx123456"}
    app_bot.connector_settings = app_settings(miniprogram_notice=True)
    app_bot.save()
    message = queue_message(member, {"msgtype": "miniprogram", "miniprogram": MINI})
    run_queue()

    ((_, sent),) = app_api.sent
    assert sent["msgtype"] == "miniprogram_notice"
    assert sent["miniprogram_notice"] == {
        "appid": "wx123456",
        "page": "pages/claim/index",
        "title": "报销",
        "description": "费控",
    }
    message.refresh_from_db()
    assert (message.status, message.sent_as) == ("sent", "miniprogram_notice")


def test_without_linked_mini_programs_a_mini_program_with_a_web_page_is_a_link(
    app_api, member, queue_message, run_queue
):
    web = {**MINI, "page_path": "https://example.com/claim"}
    message = queue_message(member, {"msgtype": "miniprogram", "miniprogram": web})
    run_queue()

    ((_, sent),) = app_api.sent
    assert sent["msgtype"] == "textcard" and sent["textcard"]["url"] == "https://example.com/claim"
    message.refresh_from_db()
    assert message.status == "sent"


def test_a_mini_program_notice_is_refused_by_wecom_for_an_unlinked_mini_program(
    app_api, app_bot, member, queue_message, run_queue
):
    app_bot.connector_settings = app_settings(miniprogram_notice=True)
    app_bot.save()
    message = queue_message(member, {"msgtype": "miniprogram", "miniprogram": MINI})
    run_queue()

    message.refresh_from_db()
    assert message.status == "failed" and "appid" in message.last_error


def test_a_mini_program_to_an_app_chat_of_a_bot_with_notices_is_a_link_to_its_web_page(
    app_api, app_bot, chat, queue_message, run_queue
):
    """App chats take no mini program notice: a web page goes as a link (a news article
    without a description), a mini program page cannot go at all."""
    app_bot.connector_settings = app_settings(miniprogram_notice=True)
    app_bot.save()
    web = {"appid": "wx123456", "title": "报销", "page_path": "https://example.com/claim"}
    sent = queue_message(chat, {"msgtype": "miniprogram", "miniprogram": web})
    unsendable = queue_message(chat, {"msgtype": "miniprogram", "miniprogram": MINI})

    run_queue()

    ((path, body),) = app_api.sent
    assert (path, body["msgtype"]) == ("appchat/send", "news")
    assert body["news"] == {"articles": [{"title": "报销", "url": "https://example.com/claim"}]}
    sent.refresh_from_db()
    unsendable.refresh_from_db()
    assert sent.status == "sent"
    assert unsendable.status == "failed"
    assert unsendable.last_error == (
        "WeCom's app chats take no mini program notice, and its page is no web URL to link "
        "to instead"
    )


def test_the_api_accepts_a_file_for_an_app_bot_and_refuses_a_bad_one(client, app_bot, member):
    def send(body):
        return client.post(
            "/api/send",
            body,
            content_type="application/json",
            query_params={"secret": app_bot.secret, "conversation_id": "zhangsan"},
        ).json()

    assert send(file_by_url("https://example.com/r.pdf", name="报告.pdf"))["errcode"] == 0
    assert send({"msgtype": "file", "file": {"name": "x.pdf"}})["errcode"] == 40058
    tiny = base64.b64encode(b"12345").decode()
    refused = send(
        {"msgtype": "file", "file": {"base64": tiny, "md5": hashlib.md5(b"12345").hexdigest()}}
    )
    assert refused["errcode"] == 40058 and "6 bytes" in refused["errmsg"]
    bad_name = send(file_by_url("https://example.com/r.pdf", name="a/b.pdf"))
    assert bad_name["errcode"] == 40058
    assert Message.objects.get().body["file"] == {
        "url": "https://example.com/r.pdf",
        "name": "报告.pdf",
    }


VOICE = b"#!AMR\n" + (bytes([0x3C]) + bytes(31)) * 150  # 3 s of AMR-NB


def test_a_voice_is_uploaded_as_voice_and_sent_by_media_id_to_members_and_app_chats(
    app_api, app_bot, member, chat, send_api, run_queue
):
    """wecom-app.md: message/send and appchat/send take `voice` by media_id (media/upload
    type voice, AMR ≤ 2 MB)."""
    voice = {"base64": base64.b64encode(VOICE).decode(), "md5": hashlib.md5(VOICE).hexdigest()}
    for conversation_id in ("zhangsan", chat.conversation_id):
        answer = send_api(conversation_id, {"msgtype": "voice", "voice": voice})
        assert answer["errcode"] == 0, answer

    run_queue()

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    uploads = [r for r in app_api.requests if r[0] == "media/upload"]
    assert len(uploads) == 1 and '"type": "voice"' in uploads[0][1]
    (to_member, to_chat) = app_api.sent
    media_id = to_member[1]["voice"]["media_id"]
    assert to_member[1]["msgtype"] == "voice"
    assert to_chat[1] == {
        "msgtype": "voice",
        "voice": {"media_id": media_id},
        "chatid": chat.conversation_id,
    }
    assert app_api.media[media_id][:2] == (VOICE, "voice")


def test_a_voice_url_that_is_no_amr_fails_before_any_upload(
    app_api, member, queue_message, run_queue
):
    with Receiver() as host:
        host.respond(200, b"ID3" + bytes(100), {"Content-Type": "audio/mpeg"})
        message = queue_message(member, {"msgtype": "voice", "voice": {"url": host.url("/v.mp3")}})
        run_queue()

    message.refresh_from_db()
    assert (message.status, message.last_error) == ("failed", "voice is not AMR")
    assert [r for r in app_api.requests if r[0] == "media/upload"] == []


def test_the_api_refuses_a_voice_that_is_no_amr_for_an_app_bot(send_api, member):
    raw = b"ID3" + bytes(100)
    voice = {"base64": base64.b64encode(raw).decode(), "md5": hashlib.md5(raw).hexdigest()}
    answer = send_api("zhangsan", {"msgtype": "voice", "voice": voice})
    assert answer["errcode"] == 40058 and "AMR" in answer["errmsg"]
    assert not Message.objects.exists()


def test_a_file_uploaded_to_botadmin_goes_to_a_member_with_its_name(
    client, app_api, member, queue_message, run_queue
):
    answer = client.post(
        "/api/upload_media",
        {"media": SimpleUploadedFile("季度报告.pdf", REPORT)},
        query_params={"secret": member.bot.secret, "type": "file"},
    ).json()
    queue_message(member, {"msgtype": "file", "file": {"media_id": answer["media_id"]}})

    run_queue()

    assert Message.objects.get().status == "sent"
    upload = next(r for r in app_api.requests if r[0] == "media/upload")
    assert 'filename="季度报告.pdf"'.encode() in upload[2]
    ((_, sent),) = app_api.sent
    assert sent["file"]["media_id"] != answer["media_id"]  # WeCom's own, not botadmin's
    assert app_api.media[sent["file"]["media_id"]][0] == REPORT


# WeCom's media/upload refuses media of 5 bytes or less (40006 invalid file size).
TINY = {
    "image": b"\xff\xd8\xff\xe0\x00",  # starts like a JPEG
    "file": b"%PDF-",
    "voice": b"#!AMR",
}


def base64_body(msgtype: str, raw: bytes, **extra) -> dict:
    encoded = base64.b64encode(raw).decode()
    return {
        "msgtype": msgtype,
        msgtype: {"base64": encoded, "md5": hashlib.md5(raw).hexdigest(), **extra},
    }


@pytest.mark.parametrize("msgtype", sorted(TINY))
def test_media_of_5_bytes_or_less_is_refused_when_sent_not_after_an_upload(
    app_api, member, send_api, msgtype
):
    answer = send_api(member.conversation_id, base64_body(msgtype, TINY[msgtype]))

    assert answer == {
        "errcode": 40058,
        "errmsg": f"invalid field: {msgtype} must be at least 6 bytes",
    }
    assert not Message.objects.exists() and app_api.requests == []


def test_an_image_of_6_bytes_is_taken(app_api, member, send_api):
    six = b"\xff\xd8\xff\xe0\x00\x10"

    assert send_api(member.conversation_id, base64_body("image", six))["errcode"] == 0


def test_a_file_of_5_bytes_behind_a_url_fails_before_it_is_uploaded(
    app_api, member, queue_message, run_queue
):
    with Receiver() as host:
        host.respond(200, TINY["file"], {"Content-Type": "application/pdf"})
        message = queue_message(member, file_by_url(host.url("/files/tiny.pdf")))
        run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert "5 bytes" in message.attempts.get().response_text
    assert [r for r in app_api.requests if r[0] == "media/upload"] == []


# --- what media/upload takes: JPG or PNG images, AMR voice of 60 s, names with extensions --


def uploaded_names(app_api) -> list[tuple[str, str]]:
    return [(kind, filename) for kind, filename, _ in app_api.uploads]


@pytest.mark.parametrize(
    "raw",
    [b"GIF89a" + bytes(100), b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(100)],
    ids=["gif", "webp"],
)
def test_an_image_url_that_is_no_jpg_or_png_fails_before_any_upload_saying_so(
    app_api, member, queue_message, run_queue, raw
):
    with Receiver() as host:
        host.respond(200, raw, {"Content-Type": "image/png"})  # whatever it says it is
        message = queue_message(member, {"msgtype": "image", "image": {"url": host.url("/a.png")}})
        run_queue()

    message.refresh_from_db()
    assert (message.status, message.last_error) == ("failed", "image is not a JPG or PNG")
    assert app_api.requests == []  # not even a token


@NAMES_FROM_URLS
def test_a_file_name_taken_from_a_url_is_decoded_cut_keeping_its_extension_or_given_one(
    app_api, member, queue_message, run_queue, path, name
):
    with Receiver() as host:
        host.respond(200, REPORT, {"Content-Type": "application/pdf"})
        message = queue_message(member, file_by_url(host.url(path)))
        run_queue()

    assert Message.objects.get(pk=message.pk).status == "sent"
    assert uploaded_names(app_api) == [("file", name)]


def test_media_sent_as_base64_without_a_name_are_named_by_their_bytes(
    app_api, member, queue_message, run_queue
):
    for msgtype, raw in (("image", png_bytes()), ("voice", VOICE), ("file", REPORT)):
        queue_message(member, base64_body(msgtype, raw))
    run_queue()

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert sorted(uploaded_names(app_api)) == [
        ("file", "file.pdf"),
        ("image", "image.png"),
        ("voice", "voice.amr"),
    ]


def amr(seconds: float) -> bytes:
    return b"#!AMR\n" + (bytes([0x3C]) + bytes(31)) * int(seconds * 50)


def test_a_voice_longer_than_60_seconds_is_refused_before_it_is_stored(app_api, member, send_api):
    """WeCom plays a voice for at most 60 s: an app bot says so at /api/send, as a robot does."""
    assert send_api("zhangsan", base64_body("voice", amr(60)))["errcode"] == 0

    answer = send_api("zhangsan", base64_body("voice", amr(60.02)))

    assert answer == {"errcode": 40058, "errmsg": "invalid field: voice longer than 60 seconds"}
    assert Message.objects.count() == 1


def test_a_voice_url_longer_than_60_seconds_fails_before_any_upload(
    app_api, member, queue_message, run_queue
):
    with Receiver() as host:
        host.respond(200, amr(61), {"Content-Type": "audio/amr"})
        message = queue_message(member, {"msgtype": "voice", "voice": {"url": host.url("/v")}})
        run_queue()

    message.refresh_from_db()
    assert (message.status, message.last_error) == ("failed", "voice longer than 60 s")
    assert app_api.uploads == []


def test_a_voice_longer_than_60_seconds_is_refused_by_botadmins_upload_media(
    app_api, app_bot, client
):
    answer = client.post(
        "/api/upload_media",
        {"media": SimpleUploadedFile("long.amr", amr(61))},
        query_params={"secret": app_bot.secret, "type": "voice"},
    ).json()

    assert answer == {"errcode": 40006, "errmsg": "invalid file size: voice longer than 60 s"}


@pytest.mark.parametrize(
    "body",
    [
        {"msgtype": "video", "video": {"media_id": "M1"}},
        {"msgtype": "mpnews", "mpnews": {"articles": [{"title": "t", "thumb_media_id": "M1"}]}},
    ],
    ids=["video", "mpnews"],
)
def test_video_and_mpnews_which_wecom_lists_for_apps_are_not_botadmins_msgtypes(
    send_api, member, body
):
    """docs/api.md says why: /api/send takes the msgtypes botadmin sends or converts for
    every WeCom connector."""
    answer = send_api("zhangsan", body)

    assert answer["errcode"] == 40008, answer
    assert answer["errmsg"].startswith("invalid message type")
    assert not Message.objects.exists()
