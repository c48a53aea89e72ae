"""The @mentions of a text announcement, as the compose page takes them: user IDs or
contact names, checked against the bot's synced contacts (its one-to-one conversations).

WeCom's `mentioned_list` holds user IDs, or "@all" for everyone (in that case).
"""

from django.core.exceptions import ValidationError
from django.utils.text import get_text_list
from django.utils.translation import gettext as _

from conversations.models import Bot, Conversation

EVERYONE = "@all"
# More than this many entries is not a mention but a paste gone wrong.
MOST = 100


def resolved_mentions(bot: Bot, typed: str) -> list[str]:
    """The user IDs `typed` names (separated by commas, "，" or "、"), in its order,
    once each: "@all" in any case is "@all", a leading "@" is dropped, a contact's exact
    name stands for its ID. Raises ValidationError naming what is not among the bot's
    contacts, when it has synced any (a bot without contacts cannot be checked)."""
    entries = _entries(typed)
    if len(entries) > MOST:
        raise ValidationError(_("At most %(n)d mentions.") % {"n": MOST})
    users = Conversation.objects.filter(bot=bot, kind=Conversation.Kind.USER)
    asked = [e for e in entries if e != EVERYONE]
    if not asked or not users.exists():
        return entries
    known = set(users.filter(conversation_id__in=asked).values_list("conversation_id", flat=True))
    by_name: dict[str, set[str]] = {}
    for name, user_id in users.filter(name__in=set(asked) - known).values_list(
        "name", "conversation_id"
    ):
        by_name.setdefault(name, set()).add(user_id)
    resolved, unknown, ambiguous = [], [], []
    for entry in entries:
        if entry == EVERYONE or entry in known:
            resolved.append(entry)
        elif len(by_name.get(entry, ())) == 1:
            resolved.append(next(iter(by_name[entry])))
        elif entry in by_name:
            ambiguous.append(entry)
        else:
            unknown.append(entry)
    errors = []
    if unknown:
        errors.append(
            _("Not among this bot's contacts: %(who)s.") % {"who": get_text_list(unknown, _("and"))}
        )
    if ambiguous:
        errors.append(
            _("More than one contact has the name %(who)s: use the user ID.")
            % {"who": get_text_list(ambiguous, _("and"))}
        )
    if errors:
        raise ValidationError(" ".join(errors))
    return list(dict.fromkeys(resolved))


def _entries(typed: str) -> list[str]:
    entries = []
    for part in typed.replace("，", ",").replace("、", ",").replace("\n", ",").split(","):
        core = part.strip().lstrip("@").strip()
        entry = EVERYONE if part.strip().startswith("@") and core.lower() == "all" else core
        if entry and entry not in entries:
            entries.append(entry)
    return entries
