"""While a bot's deletion runs, its API refuses sends and uploads with the inactive bot's
errcode, so nothing new is accepted for a bot on its way out."""

from deletions import services
from messaging.models import Message
from tests.messaging.conftest import send  # noqa: F401  (POST /api/send)

TEXT = {"msgtype": "text", "text": {"content": "还在吗"}}


def test_the_api_refuses_to_send_for_a_bot_being_deleted(send, bot, group, superuser):  # noqa: F811
    assert send(bot.secret, group.conversation_id, TEXT).json()["errcode"] == 0
    services.request_bot_deletion(bot, superuser, via="test")

    answer = send(bot.secret, group.conversation_id, TEXT)

    assert answer.status_code == 403
    assert answer.json()["errcode"] == 7000102
    assert Message.objects.filter(bot=bot).count() == 1
