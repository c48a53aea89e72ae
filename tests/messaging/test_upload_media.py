"""POST /api/upload_media and sending its media_id: WeCom's group-robot two-step file flow."""

import hashlib
from datetime import timedelta

import pytest
import requests
import time_machine
from botocore.config import Config
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from botadmin.reasons import translate
from devtools.receiver import Receiver
from media.models import StoredFile
from messaging import uploads
from messaging.delivery import deliver
from messaging.delivery_actions import retry_now
from messaging.media_retention import expire_media
from messaging.models import Message, MessageMedia, UploadedMedia
from messaging.tasks import delete_expired_uploads as delete_expired_uploads_task
from tests.messaging.support import purge_broker
from tests.polling import wait_until

REPORT = b"%PDF-1.4 weekly report " * 40


def amr(seconds: float) -> bytes:
    """AMR-NB of `seconds`: 50 frames of 12.2 kbit/s (frame type 7, 32 bytes) a second."""
    return b"#!AMR\n" + (b"\x3c" + bytes(31)) * int(seconds * 50)


@pytest.fixture
def upload(client):
    """POST /api/upload_media as a caller would: `upload(secret, kind, content, name)`."""

    def post(secret, kind="file", content=REPORT, name="周报.pdf", **query):
        params = {"secret": secret, "type": kind, **query}
        data = {"media": SimpleUploadedFile(name, content)} if content is not None else {}
        return client.post("/api/upload_media", data, query_params=params)

    return post


def uploaded(response) -> str:
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["errcode"] == 0, answer
    return answer["media_id"]


def refused(response, errcode: int, status: int) -> str:
    answer = response.json()
    assert (answer["errcode"], response.status_code) == (errcode, status), answer
    assert set(answer) == {"errcode", "errmsg"}
    return answer["errmsg"]


def file_by_id(media_id: str) -> dict:
    return {"msgtype": "file", "file": {"media_id": media_id}}


# --- The flow ---------------------------------------------------------------------------


def test_a_script_uploads_a_file_then_sends_its_media_id_and_the_group_gets_it(
    wecom, wecom_group, live_server, run_queue
):
    """What a tool written for WeCom's robot does, over HTTP, against botadmin."""
    api = live_server.url + "/api"
    secret = wecom_group.bot.secret

    answer = requests.post(
        f"{api}/upload_media",
        params={"secret": secret, "type": "file"},
        files={"media": ("周报 第3周.pdf", REPORT)},
        timeout=30,
    ).json()
    sent = requests.post(
        f"{api}/send",
        params={"secret": secret, "conversation_id": "wrSales"},
        json=file_by_id(answer["media_id"]),
        timeout=30,
    )
    run_queue()

    assert set(answer) == {"errcode", "errmsg", "type", "media_id", "created_at"}
    assert (answer["errcode"], answer["errmsg"], answer["type"]) == (0, "ok", "file")
    assert isinstance(answer["created_at"], str)
    assert abs(int(answer["created_at"]) - timezone.now().timestamp()) < 60
    assert sent.status_code == 200 and sent.json()["errcode"] == 0, sent.text
    message = Message.objects.get(msgid=sent.json()["msgid"])
    assert message.status == "sent", message.last_error
    ((key, kind, filename, content),) = wecom.uploads
    assert (key, kind, filename, content) == ("key-sales", "file", "周报 第3周.pdf", REPORT)
    ((_, posted),) = wecom.messages
    assert posted == {"msgtype": "file", "file": {"media_id": posted["file"]["media_id"]}}
    assert wecom.media[posted["file"]["media_id"]][:2] == (REPORT, "file")


@pytest.mark.parametrize(
    "files",
    [
        {"weekly.pdf": REPORT},  # waditu/czsc's push_file: {file_name: bytes}
        {"file": ("weekly.pdf", REPORT)},  # scripts posting {"file": open(path, "rb")}
        {"image": ("weekly.pdf", REPORT, "application/pdf")},  # {"image": (name, data)}
    ],
    ids=["named-after-the-file", "file", "image"],
)
def test_a_file_part_not_named_media_is_taken_as_the_upload(wecom_group, live_server, files):
    """WeCom documents the part name `media`, but scripts that work against it name the
    part otherwise and read `media_id` from the answer: waditu/czsc's `push_file`
    (`requests.post(api_upload, files={file_name: bytes})`), and scripts posting
    `files={"file": …}` or `files={"image": (name, data)}` to upload_media."""
    answer = requests.post(
        live_server.url + "/api/upload_media",
        params={"secret": wecom_group.bot.secret, "type": "file"},
        files=files,
        timeout=30,
    ).json()

    assert (answer["errcode"], answer["errmsg"]) == (0, "ok"), answer
    upload = UploadedMedia.objects.get(media_id=answer["media_id"])
    assert (upload.name, upload.stored_file.size) == ("weekly.pdf", len(REPORT))


def test_an_uploaded_voice_is_sent_by_its_media_id(wecom, wecom_group, upload, send, run_queue):
    media_id = uploaded(upload(wecom_group.bot.secret, "voice", amr(3), "hello.amr"))

    answer = send(
        wecom_group.bot.secret, "wrSales", {"msgtype": "voice", "voice": {"media_id": media_id}}
    ).json()
    run_queue()

    assert Message.objects.get(msgid=answer["msgid"]).status == "sent"
    ((_, kind, _, content),) = wecom.uploads
    assert (kind, content) == ("voice", amr(3))
    assert wecom.messages[0][1]["msgtype"] == "voice"


def test_the_stored_message_names_the_upload_and_links_its_stored_file(wecom_group, upload, send):
    media_id = uploaded(upload(wecom_group.bot.secret, name="report.pdf"))

    answer = send(wecom_group.bot.secret, "wrSales", file_by_id(media_id)).json()

    message = Message.objects.get(msgid=answer["msgid"])
    assert message.body == {
        "msgtype": "file",
        "file": {
            "media_id": media_id,
            "md5": hashlib.md5(REPORT).hexdigest(),
            "name": "report.pdf",
        },
    }
    media = message.media.get()
    assert (media.status, media.cdn_type, media.original_name) == ("stored", "upload", "report.pdf")
    assert media.stored_file == UploadedMedia.objects.get(media_id=media_id).stored_file


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("报" * 100 + ".pdf", "报" * 83 + ".pdf"),  # 255 bytes, its extension kept
        ('周报 "终稿"\u202e.pdf', "周报 _终稿_.pdf"),  # no quote, no right-to-left override
    ],
    ids=["long", "quotes-and-format-characters"],
)
def test_an_uploaded_name_keeps_its_extension_and_loses_what_a_name_may_not_hold(
    wecom_group, upload, send, given, kept
):
    media_id = uploaded(upload(wecom_group.bot.secret, name=given))

    assert UploadedMedia.objects.get(media_id=media_id).name == kept
    answer = send(wecom_group.bot.secret, "wrSales", file_by_id(media_id)).json()
    assert Message.objects.get(msgid=answer["msgid"]).body["file"]["name"] == kept


def test_a_queued_message_is_still_sent_after_its_upload_expired_and_was_cleaned_up(
    wecom, wecom_group, upload, send, run_queue
):
    """The message keeps the stored file: a retry or a scheduled send outlives the 3 days."""
    media_id = uploaded(upload(wecom_group.bot.secret))
    msgid = send(wecom_group.bot.secret, "wrSales", file_by_id(media_id)).json()["msgid"]
    UploadedMedia.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert uploads.delete_expired_uploads() == 1
    run_queue()

    assert Message.objects.get(msgid=msgid).status == "sent"
    assert wecom.uploads[0][3] == REPORT


def test_media_ids_are_unguessable_and_one_per_upload(wecom_group, upload):
    first = uploaded(upload(wecom_group.bot.secret))
    second = uploaded(upload(wecom_group.bot.secret))

    assert first != second and len(first) >= 40
    assert StoredFile.objects.count() == 1  # the same bytes are stored once


# --- Refused uploads: WeCom's codes, nothing stored -------------------------------------


@pytest.fixture
def nothing_stored(db):
    yield
    assert not UploadedMedia.objects.exists()
    assert not StoredFile.objects.exists()


@time_machine.travel("2026-06-01 10:00:30+00:00", tick=False)  # not at a window's edge
def test_uploads_count_against_the_send_rate_limit(wecom_group, upload, settings):
    """An upload is a request like a send (BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE)."""
    settings.BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE = 2
    for _ in range(2):
        uploaded(upload(wecom_group.bot.secret))

    response = upload(wecom_group.bot.secret)

    refused(response, 45009, 429)
    assert response["Retry-After"] == "31"
    assert UploadedMedia.objects.count() == 2


@pytest.mark.parametrize("kind", ["", "image", "FILE", "video"])
def test_an_upload_of_another_type_is_40004(wecom_group, upload, nothing_stored, kind):
    assert "type" in refused(upload(wecom_group.bot.secret, kind), 40004, 400)


def test_a_type_given_twice_with_different_values_is_40004(wecom_group, upload, nothing_stored):
    # Django would take the last: a file sent as the voice the caller did not mean, or
    # refused as a voice that is not AMR.
    response = upload(wecom_group.bot.secret, ["file", "voice"])
    errmsg = refused(response, 40004, 400)
    assert errmsg == "invalid media type: type is given twice with different values"


def test_the_same_type_twice_is_one(wecom_group, upload):
    uploaded(upload(wecom_group.bot.secret, ["file", "file"]))
    assert UploadedMedia.objects.get().kind == "file"


def test_a_file_of_5_bytes_or_less_is_40006(wecom_group, upload, nothing_stored):
    refused(upload(wecom_group.bot.secret, content=b"12345"), 40006, 400)


def test_a_file_above_the_limit_is_40006_with_413(wecom_group, upload, nothing_stored, settings):
    settings.BOTADMIN_MEDIA_MAX_BYTES = 1000  # below the robot's 20 MB: the store's limit wins

    errmsg = refused(upload(wecom_group.bot.secret, content=bytes(1001)), 40006, 413)

    assert "1000 bytes" in errmsg


def test_a_body_above_the_upload_body_limit_is_refused_before_it_is_read(
    wecom_group, upload, nothing_stored, settings
):
    settings.BOTADMIN_UPLOAD_MEDIA_MAX_BODY_BYTES = 2000

    refused(upload(wecom_group.bot.secret, content=bytes(3000)), 7000002, 413)


def test_a_voice_that_is_not_amr_is_40004(wecom_group, upload, nothing_stored):
    refused(upload(wecom_group.bot.secret, "voice", b"ID3\x03" + bytes(100), "a.mp3"), 40004, 415)


def test_a_voice_longer_than_60_seconds_is_refused_for_a_robot(wecom_group, upload, nothing_stored):
    assert "60" in refused(upload(wecom_group.bot.secret, "voice", amr(61)), 40006, 400)


def test_an_upload_without_the_media_part_is_41006(wecom_group, upload, nothing_stored):
    refused(upload(wecom_group.bot.secret, content=None), 41006, 400)


@pytest.mark.parametrize("size", [len(REPORT), 3 * 1024 * 1024], ids=["small", "3-mb"])
def test_a_media_part_without_a_file_name_is_41006(wecom_group, client, nothing_stored, size):
    """Without a file name the part is a form field; Django caps those at 2.5 MB, yet a
    3 MB file sent so is the same mistake, not a body too large (the limit is 20 MB)."""
    content = (REPORT * (size // len(REPORT) + 1))[:size]
    body = (
        b'--zz\r\nContent-Disposition: form-data; name="media"\r\n\r\n'
        + content
        + b"\r\n--zz--\r\n"
    )
    response = client.post(
        "/api/upload_media",
        body,
        content_type="multipart/form-data; boundary=zz",
        query_params={"secret": wecom_group.bot.secret, "type": "file"},
    )

    assert "with a filename" in refused(response, 41006, 400)


def test_a_body_that_is_not_multipart_is_415(wecom_group, client, nothing_stored):
    response = client.post(
        "/api/upload_media",
        REPORT,
        content_type="application/pdf",
        query_params={"secret": wecom_group.bot.secret, "type": "file"},
    )

    refused(response, 7000003, 415)


def test_a_broken_multipart_body_is_400(wecom_group, client, nothing_stored):
    response = client.post(
        "/api/upload_media",
        b"not multipart at all",
        content_type="multipart/form-data",  # no boundary
        query_params={"secret": wecom_group.bot.secret, "type": "file"},
    )

    refused(response, 40035, 400)


def test_a_wrong_secret_is_93000(wecom_group, upload, nothing_stored):
    refused(upload("wrong-secret"), 93000, 401)


def test_a_bot_that_cannot_send_files_answers_40008(bridge_bot, upload, nothing_stored):
    """A bridge agent that announced no files: as /api/send answers a file for it."""
    refused(upload(bridge_bot.secret), 40008, 400)


def test_an_inactive_bot_is_refused(wecom_group, upload, nothing_stored):
    bot = wecom_group.bot
    bot.is_active = False
    bot.save()

    refused(upload(bot.secret), 7000102, 403)


# --- Sending a media_id that is not this bot's live upload ------------------------------


@pytest.fixture
def nothing_sent(db):
    yield
    assert not Message.objects.exists()
    assert not MessageMedia.objects.exists()


def test_an_unknown_media_id_is_40007(wecom_group, send, nothing_sent):
    refused(send(wecom_group.bot.secret, "wrSales", file_by_id("3abc")), 40007, 400)


def test_an_expired_media_id_is_40007(wecom_group, upload, send, nothing_sent):
    media_id = uploaded(upload(wecom_group.bot.secret))
    UploadedMedia.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    refused(send(wecom_group.bot.secret, "wrSales", file_by_id(media_id)), 40007, 400)


def test_another_bot_s_media_id_is_40007(wecom_group, make_bot, make_conversation, upload, send):
    other = make_bot(name="other-robot", connector="wecom_robot", agent_url="", agent_token="")
    make_conversation(other, "wrOther", robot_key="key-ops")
    media_id = uploaded(upload(other.secret))

    refused(send(wecom_group.bot.secret, "wrSales", file_by_id(media_id)), 40007, 400)
    assert not Message.objects.exists()


def test_a_voice_upload_sent_as_a_file_is_40007(wecom_group, upload, send, nothing_sent):
    media_id = uploaded(upload(wecom_group.bot.secret, "voice", amr(1)))

    errmsg = refused(send(wecom_group.bot.secret, "wrSales", file_by_id(media_id)), 40007, 400)

    assert "voice" in errmsg


def test_an_empty_media_id_is_41006(wecom_group, send, nothing_sent):
    refused(send(wecom_group.bot.secret, "wrSales", file_by_id("")), 41006, 400)


def test_a_media_id_beside_a_url_is_40058(wecom_group, upload, send, nothing_sent):
    media_id = uploaded(upload(wecom_group.bot.secret))
    body = {"msgtype": "file", "file": {"media_id": media_id, "url": "https://x.com/a.pdf"}}

    refused(send(wecom_group.bot.secret, "wrSales", body), 40058, 400)


# --- Cleaning up --------------------------------------------------------------------------


def test_expired_uploads_are_deleted_with_their_files_and_a_second_run_finds_nothing(
    wecom_group, upload
):
    old = uploaded(upload(wecom_group.bot.secret, content=b"old file bytes"))
    live = uploaded(upload(wecom_group.bot.secret, content=b"live file bytes"))
    UploadedMedia.objects.filter(media_id=old).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    old_file = StoredFile.objects.get(sha256=hashlib.sha256(b"old file bytes").hexdigest())

    assert delete_expired_uploads_task() == 1

    assert list(UploadedMedia.objects.values_list("media_id", flat=True)) == [live]
    assert not StoredFile.objects.filter(pk=old_file.pk).exists()
    assert uploads.delete_expired_uploads() == 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_s_beat_deletes_an_expired_upload_within_the_cleanup_interval(
    wecom_group, upload, start_worker, monkeypatch
):
    purge_broker()  # tasks other tests left on the broker are not ours
    monkeypatch.setenv("BOTADMIN_UPLOAD_CLEANUP_INTERVAL", "1")
    media_id = uploaded(upload(wecom_group.bot.secret, content=b"expired file bytes"))
    UploadedMedia.objects.filter(media_id=media_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    stored = StoredFile.objects.get(sha256=hashlib.sha256(b"expired file bytes").hexdigest())

    start_worker(beat=True)

    assert wait_until(lambda: not StoredFile.objects.filter(pk=stored.pk).exists(), 60)
    assert not UploadedMedia.objects.filter(media_id=media_id).exists()


def test_an_expired_upload_s_file_stays_while_a_message_or_another_upload_shows_it(
    wecom_group, upload, send
):
    media_id = uploaded(upload(wecom_group.bot.secret))
    send(wecom_group.bot.secret, "wrSales", file_by_id(media_id))
    UploadedMedia.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    again = uploaded(upload(wecom_group.bot.secret))  # the same bytes, uploaded again

    assert uploads.delete_expired_uploads() == 1

    assert StoredFile.objects.count() == 1
    assert UploadedMedia.objects.get().media_id == again


def test_the_media_retention_keeps_the_file_of_a_message_not_sent_yet(
    wecom_group, upload, send, settings
):
    settings.BOTADMIN_MEDIA_RETENTION_DAYS = 1
    media_id = uploaded(upload(wecom_group.bot.secret))
    send(wecom_group.bot.secret, "wrSales", file_by_id(media_id))
    MessageMedia.objects.update(created_at=timezone.now() - timedelta(days=2))

    assert expire_media() == 0
    assert MessageMedia.objects.get().status == "stored"


# --- A media store that fails ------------------------------------------------------------


def media_store_at(settings, location) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


def test_an_upload_the_media_store_cannot_write_is_system_busy_never_a_500(
    wecom_group, upload, settings, tmp_path, caplog
):
    not_a_folder = tmp_path / "media"
    not_a_folder.write_bytes(b"")  # a disk whose folder cannot be made
    media_store_at(settings, not_a_folder)

    errmsg = refused(upload(wecom_group.bot.secret), -1, 503)

    assert errmsg == "system busy, retry later"
    assert not UploadedMedia.objects.exists() and not StoredFile.objects.exists()
    assert "Unhandled error in POST /api/upload_media" in caplog.text


def test_a_file_whose_bytes_the_store_cannot_read_waits_and_goes_once_the_store_is_back(
    wecom, wecom_group, upload, send, clock, settings, tmp_path
):
    media_id = uploaded(upload(wecom_group.bot.secret))
    msgid = send(wecom_group.bot.secret, "wrSales", file_by_id(media_id)).json()["msgid"]
    working = settings.STORAGES
    media_store_at(settings, tmp_path / "unmounted")  # the archive's volume is missing

    message = Message.objects.get(msgid=msgid)
    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued" and not wecom.uploads
    assert message.last_error.startswith("media store unavailable: FileNotFoundError")
    with translation.override("zh-hans"):
        assert translate(message.last_error).startswith("媒体存储不可用：FileNotFoundError")
    settings.STORAGES = working
    clock.advance(3600)
    assert deliver(message.pk, clock).result == "sent"
    assert wecom.uploads[0][3] == REPORT


def test_a_media_store_nobody_answers_is_named_without_the_credentials_in_its_endpoint(
    wecom, wecom_group, upload, send, clock, settings
):
    """botocore quotes the endpoint it could not reach, its user part and path included:
    operators read the message's last error."""
    media_id = uploaded(upload(wecom_group.bot.secret))
    msgid = send(wecom_group.bot.secret, "wrSales", file_by_id(media_id)).json()["msgid"]
    with Receiver() as gone:
        port = gone.port
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "media",
                "endpoint_url": f"http://minio:Pa55-not-shown@127.0.0.1:{port}/",
                "access_key": "minio",
                "secret_key": "minio-secret",
                "region_name": "us-east-1",
                "client_config": Config(retries={"max_attempts": 1}, connect_timeout=1),
            },
        },
    }

    assert deliver(Message.objects.get(msgid=msgid).pk, clock).result == "retry"

    error = Message.objects.get(msgid=msgid).last_error
    assert error.startswith("media store unavailable: EndpointConnectionError")
    assert "://********@127.0.0.1:" in error and "Pa55-not-shown" not in error


def test_retrying_a_file_message_whose_file_the_retention_took_fails_saying_so(
    wecom, wecom_group, upload, send, clock, settings, superuser
):
    """An operator retries an old failed file message: its file has left the archive."""
    settings.BOTADMIN_MEDIA_RETENTION_DAYS = 1
    media_id = uploaded(upload(wecom_group.bot.secret))
    msgid = send(wecom_group.bot.secret, "wrSales", file_by_id(media_id)).json()["msgid"]
    message = Message.objects.get(msgid=msgid)
    wecom.answer_next(40008)
    assert deliver(message.pk, clock).result == "failed"
    MessageMedia.objects.update(created_at=timezone.now() - timedelta(days=2))
    UploadedMedia.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert expire_media() == 1 and uploads.delete_expired_uploads() == 1
    assert not StoredFile.objects.exists()

    assert retry_now(message, superuser)
    clock.advance(60)  # past the conversation's gap
    assert deliver(message.pk, clock).result == "failed"

    message.refresh_from_db()
    assert message.last_error == "the uploaded file is no longer stored"
    with translation.override("zh-hans"):
        assert translate(message.last_error) == "上传的文件已不再存储"
    assert len(wecom.uploads) == 1  # the first try only
