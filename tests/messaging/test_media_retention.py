"""Media retention: stored media older than BOTADMIN_MEDIA_RETENTION_DAYS expire (the
message stays, marked), files nothing shows any more are deleted, files a newer
message shows stay; and the storage each bot uses counts each file once."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from media import store
from media.models import StoredFile
from messaging import media_retention, tasks, uploads
from messaging.models import Message, MessageMedia
from tests.images import image_bytes

OLD, SHARED, NEW = (image_bytes("PNG", (n, n)) for n in (11, 12, 13))


def media_message(conversation, content: bytes, days_old: float) -> MessageMedia:
    message = Message.objects.create(
        bot=conversation.bot,
        conversation=conversation,
        direction="in",
        msgtype="image",
        body={"msgtype": "image", "image": {"cdn_type": "c", "cdn": "x"}},
        status="received",
        source="agent",
    )
    row = MessageMedia.objects.create(
        message=message, status="stored", stored_file=store.store_bytes(content)
    )
    MessageMedia.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - timedelta(days=days_old)
    )
    return row


def test_old_media_expire_and_only_unused_files_are_deleted(settings, group):
    settings.BOTADMIN_MEDIA_RETENTION_DAYS = 30
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 1
    old = media_message(group, OLD, 40)
    shared_old = media_message(group, SHARED, 40)
    shared_new = media_message(group, SHARED, 2)
    new = media_message(group, NEW, 2)
    old_name = old.stored_file.name
    before = Message.objects.get(pk=old.message_id).updated_at

    assert media_retention.expire_media() == 2

    assert set(MessageMedia.objects.filter(status="expired").values_list("pk", flat=True)) == {
        old.pk,
        shared_old.pk,
    }
    assert Message.objects.count() == 4  # the messages stay
    assert Message.objects.get(pk=old.message_id).updated_at > before
    assert not store.media_storage().exists(old_name)
    assert set(StoredFile.objects.all()) == {shared_new.stored_file, new.stored_file}
    assert media_retention.expire_media() == 0


def test_without_the_setting_media_are_kept(settings, group):
    settings.BOTADMIN_MEDIA_RETENTION_DAYS = None
    media_message(group, OLD, 4000)

    assert media_retention.expire_media() == 0
    assert MessageMedia.objects.get().status == "stored"


def test_storage_used_counts_each_file_once_per_bot(group, make_bot, make_conversation):
    other = make_conversation(make_bot(name="other"), "wrOther")
    for _ in range(3):
        media_message(group, SHARED, 1)
    media_message(group, NEW, 1)
    media_message(other, SHARED, 1)

    used = media_retention.storage_used([group.bot.pk, other.bot.pk])

    assert used == {
        group.bot.pk: (2, len(SHARED) + len(NEW)),
        other.bot.pk: (1, len(SHARED)),
    }


def test_files_nothing_shows_any_more_are_deleted_a_day_later(
    settings, group, make_bot, make_conversation
):
    settings.BOTADMIN_MEDIA_RETENTION_DAYS = None  # retention off: nothing expires by age
    # A message deleted by hand (the Django admin) takes its media row, not its file.
    only_its = media_message(group, OLD, 0)
    only_its_name = only_its.stored_file.name
    media_message(group, SHARED, 0).message.delete()
    still_shown = media_message(group, SHARED, 0).stored_file
    only_its.message.delete()
    # A bot deleted with its uploads (it had no messages).
    uploader = make_bot(name="uploader")
    uploaded = uploads.store_upload(uploader, "file", "a.pdf", b"%PDF-1.4 orphan")
    uploaded_name = uploaded.stored_file.name
    uploader.delete()

    assert media_retention.delete_orphaned_files() == 0  # a fresh file may be linked yet
    tomorrow = timezone.now() + timedelta(days=1, minutes=1)
    assert media_retention.delete_orphaned_files(tomorrow) == 2

    assert set(StoredFile.objects.all()) == {still_shown}
    assert not store.media_storage().exists(only_its_name)
    assert not store.media_storage().exists(uploaded_name)
    assert store.media_storage().exists(still_shown.name)
    assert media_retention.delete_orphaned_files(tomorrow) == 0


def test_the_nightly_task_deletes_files_nothing_shows(settings, group):
    settings.BOTADMIN_MEDIA_RETENTION_DAYS = None
    orphan = store.store_bytes(NEW)
    StoredFile.objects.filter(pk=orphan.pk).update(created_at=timezone.now() - timedelta(days=2))
    shown = media_message(group, OLD, 0).stored_file

    tasks.expire_media()

    assert set(StoredFile.objects.all()) == {shown}
    assert not store.media_storage().exists(orphan.name)
