import pytest

from announcements.editing import Draft, save_announcement
from conversations.models import Conversation


@pytest.fixture
def make_groups(make_conversation):
    def make(bot, count: int, prefix: str = "wrG") -> list[Conversation]:
        if count > 50:
            Conversation.objects.bulk_create(
                Conversation(bot=bot, conversation_id=f"{prefix}{i:05d}", name=f"group {i}")
                for i in range(count)
            )
            return list(Conversation.objects.filter(bot=bot).order_by("pk"))
        return [make_conversation(bot, f"{prefix}{i}", name=f"group {i}") for i in range(count)]

    return make


@pytest.fixture
def make_announcement(superuser):
    def make(bot, conversations, *, kind="now", schedule=None, tz="Asia/Shanghai", **kwargs):
        draft = Draft(
            bot=bot,
            title=kwargs.pop("title", "Notice"),
            body=kwargs.pop("body", {"msgtype": "text", "text": {"content": "hello"}}),
            conversation_ids=[c.pk for c in conversations],
            kind=kind,
            schedule=schedule or {},
            timezone=tz,
        )
        return save_announcement(kwargs.pop("user", superuser), draft, as_draft=False, **kwargs)

    return make
