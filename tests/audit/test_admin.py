"""The audit log's admin pages."""

from django.urls import reverse

from audit.models import OperatorAction
from audit.services import record_action


def test_an_entrys_page_is_titled_in_words_not_codes(client, superuser, bot):
    """It read "root bot.update conversations.bot 1" on a Chinese page."""
    record_action(superuser, "bot.update", bot=bot, target=bot, summary="name")
    entry = OperatorAction.objects.get()
    client.force_login(superuser)

    page = client.get(reverse("admin:audit_operatoraction_change", args=[entry.pk]))

    html = page.content.decode()
    assert f"{superuser.username} · 修改了机器人设置 · {bot.name}" in html
    assert "bot.update conversations.bot" not in html
