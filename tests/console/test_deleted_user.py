"""A user deleted in the admin still shows as who sent a message or made an announcement:
the name is kept with the row when it is made (`created_by_label`), and the data
migrations filled it for the rows made before."""

from __future__ import annotations

from django.apps import apps
from django.urls import reverse

from announcements.editing import Draft, save_announcement
from botadmin import creator_labels
from botadmin.creator_labels import filler
from messaging.models import Message
from tests.counted_queries import counting_queries


def test_a_deleted_users_reply_still_names_them(
    client, operator_client, operator, group, superuser
):
    reply = reverse("console:reply", args=[group.bot.pk, group.pk])
    operator_client.post(reply, {"content": "已处理"})
    message = Message.objects.get(direction="out")
    assert message.created_by_label == "alice"

    client.force_login(superuser)
    deleted = client.post(reverse("admin:auth_user_delete", args=[operator.pk]), {"post": "yes"})
    assert deleted.status_code == 302
    message.refresh_from_db()
    assert message.created_by is None

    history = client.get(reverse("console:history", args=[group.bot.pk, group.pk]))
    bubble = history.content.decode().split(f'id="m{message.pk}"')[1].split("</article>")[0]
    assert "· alice" in bubble
    outbound = client.get(reverse("console:audit")).content.decode()
    assert "alice" in outbound
    export = b"".join(client.get(reverse("console:audit_csv")).streaming_content).decode()
    assert "alice" in export


def test_an_announcement_keeps_its_creators_name_and_gives_it_to_its_messages(
    make_operator, bot, group
):
    author = make_operator("carol", bot)
    draft = Draft(
        bot=bot,
        title="通知",
        body={"msgtype": "text", "text": {"content": "hello"}},
        conversation_ids=[group.pk],
        kind="now",
        schedule={},
        timezone="Asia/Shanghai",
    )
    announcement = save_announcement(author, draft, as_draft=False)
    author.delete()
    announcement.refresh_from_db()
    assert announcement.created_by is None and announcement.created_by_label == "carol"


def test_the_data_migration_fills_the_names_of_earlier_rows_once(operator, group, make_message):
    made = [make_message(group, "out", created_by=operator) for _ in range(3)]
    anonymous = make_message(group, "out")
    Message.objects.update(created_by_label="")  # as the previous release left them

    filler("messaging", "Message")(apps, None)
    filler("messaging", "Message")(apps, None)  # again: nothing changes

    labels = dict(Message.objects.values_list("pk", "created_by_label"))
    assert [labels[m.pk] for m in made] == ["alice"] * 3
    assert labels[anonymous.pk] == ""


def test_the_data_migration_reads_windows_of_ids_from_the_smallest_id(
    operator, group, make_message, monkeypatch
):
    """Ids far from 1 (messages deleted by retention, a PostgreSQL sequence moved on) are
    no empty windows to read."""
    monkeypatch.setattr(creator_labels, "BATCH_SIZE", 2)
    for n in range(5):
        make_message(group, "out", created_by=operator, pk=5_000 + n)
    Message.objects.update(created_by_label="")

    with counting_queries() as queries:
        filler("messaging", "Message")(apps, None)

    assert set(Message.objects.values_list("created_by_label", flat=True)) == {"alice"}
    windows = [q for q in queries if 'AND "messaging_message"."id" <=' in q["sql"]]
    assert len(windows) == 3  # ids 5,000 to 5,004, two a window
