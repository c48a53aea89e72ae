"""An audit entry names who, which bot and what, and keeps secrets out."""

from audit.services import record_action
from conversations.models import Bot


def test_the_names_outlive_the_user_the_bot_and_the_target(make_operator, make_bot):
    doomed = make_bot(name="doomed")
    user = make_operator("erin", doomed)
    entry = record_action(user, "bot.update", bot=doomed, target=doomed, summary="name")

    Bot.objects.filter(pk=doomed.pk).delete()
    user.delete()
    entry.refresh_from_db()

    assert (entry.actor, entry.bot) == (None, None)
    assert (entry.actor_label, entry.bot_label, entry.target_label) == ("erin", "doomed", "doomed")


def test_secrets_in_urls_and_details_are_masked(bot):
    entry = record_action(
        None,
        "endpoint.delete",
        bot=bot,
        label="https://ops:hunter2@hooks.example/in?key=robot-key-1",
        summary="Deleted https://hooks.example/in?token=tok-1",
        details={"url": "https://hooks.example/?secret=s-1", "msgtypes": ["text"]},
    )

    stored = entry.target_label + entry.summary + str(entry.details)
    assert not any(secret in stored for secret in ("hunter2", "robot-key-1", "tok-1", "s-1"))
    assert entry.target_label == "https://********@hooks.example/in?key=********"
    assert entry.details["msgtypes"] == ["text"]
