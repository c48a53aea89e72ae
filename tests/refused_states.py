"""What the console shows of a bot whose credentials the other side refused
(conversations/refusals.py), read as an operator reads it: the bot list's state cell,
the bot page's head and the dashboard's row, in both languages."""

from django.urls import reverse
from django.utils.html import strip_tags

REFUSED = {"zh-hans": "凭据被拒绝", "en": "Credentials refused"}
RUNNING = {"zh-hans": "正常", "en": "Running"}
LANGUAGES = ("zh-hans", "en")


def shown(client, bot, language) -> dict[str, str]:
    """The text of the bot list's state cell, the bot page's head and the dashboard's row."""
    client.cookies["django_language"] = language
    pages = {
        "list": client.get(reverse("console:bots")),
        "page": client.get(reverse("console:bot", args=[bot.pk])),
        "dashboard": client.get(reverse("console:dashboard")),
    }
    text = {name: strip_tags(page.content.decode()) for name, page in pages.items()}
    # What follows the bot's name: its row (the only one), the page's head and sections.
    return {name: page.split(bot.name, 1)[1].replace("&#x27;", "'") for name, page in text.items()}


def assert_refused(client, bot, hint: dict[str, str]) -> None:
    """Shown refused everywhere, with `hint` (what to check, per language)."""
    for language in LANGUAGES:
        for where, text in shown(client, bot, language).items():
            assert REFUSED[language] in text, (language, where)
            assert hint[language] in text, (language, where)


def assert_not_refused(client, bot) -> None:
    """Shown refused nowhere, and the bot list says it runs."""
    for language in LANGUAGES:
        for where, text in shown(client, bot, language).items():
            assert REFUSED[language] not in text, (language, where)
            if where == "list":
                assert RUNNING[language] in text
