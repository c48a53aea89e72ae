"""Operator-action codes in words: what the audit log shows and filters by.

A code is the dotted verb `record_action` stores (`message.retry`); its words
are translated here, in one place. A code without words (a new action not
added yet) is shown as it is.
"""

from django.utils.translation import gettext_lazy as _

WORDS = {
    "announcement.create": _("Created an announcement"),
    "announcement.edit": _("Edited an announcement"),
    "announcement.pause": _("Paused an announcement"),
    "announcement.resume": _("Resumed an announcement"),
    "announcement.send_draft": _("Sent or scheduled a draft announcement"),
    "announcement.cancel": _("Cancelled an announcement"),
    "announcement.retry_failed": _("Retried an announcement's failed recipients"),
    "audience.create": _("Saved an audience"),
    "audience.edit": _("Changed a saved audience"),
    "bot.create": _("Created a bot"),
    "bot.update": _("Changed a bot's settings"),
    "bot.delete_request": _("Asked for a bot's deletion"),
    "bot.delete": _("Deleted a bot"),
    "bot.check_connection": _("Tested the connection"),
    "bot.reconnect": _("Reconnected the long connection"),
    # By delivery (an account problem), a long connection's refused credentials, or a user.
    "bot.pause_sending": _("Paused sending"),
    "bot.resume_sending": _("Resumed sending"),
    "bot.operator_add": _("Added an operator"),
    "bot.operator_remove": _("Removed an operator"),
    "secret.rotate": _("Rotated a secret"),
    # The bot's one signing secret of earlier releases: each endpoint has its own now
    # (endpoint.rotate_signing_secret, whose filter entry finds these too).
    "signing_secret.rotate": _("Rotated the bot's webhook signing secret (earlier release)"),
    "secret.reveal": _("Revealed a secret"),
    "contacts.sync": _("Synced the contacts"),
    "conversation.add": _("Added a conversation by hand"),
    "conversation.update": _("Changed a conversation"),
    "conversation.delete_request": _("Asked for a conversation's deletion"),
    "conversation.delete": _("Deleted a conversation"),
    "deletion.retry": _("Tried a failed deletion again"),
    "group_chat.create": _("Created a group chat"),
    "message.retry": _("Retried a message"),
    "message.mark_sent": _("Marked a message as sent"),
    "message.cancel": _("Cancelled a message"),
    "messages.export": _("Exported messages"),
    "audit.export": _("Exported the audit log"),
    "media.fetch_again": _("Fetched a media file again"),
    "endpoint.create": _("Added a webhook endpoint"),
    "endpoint.update": _("Changed a webhook endpoint"),
    "endpoint.test": _("Sent a test event"),
    "endpoint.reenable": _("Re-enabled a webhook endpoint"),
    "endpoint.recover_missed": _("Forwarded the messages a webhook endpoint missed"),
    "endpoint.rotate_signing_secret": _("Rotated a webhook endpoint's signing secret"),
    "endpoint.delete": _("Deleted a webhook endpoint"),
    "delivery.replay": _("Replayed a webhook delivery"),
    "delivery.replay_many": _("Replayed webhook deliveries"),
    # Changed in the Django admin's own pages; not about a bot, so superusers read them.
    "user.create": _("Added a user"),
    "user.update": _("Changed a user"),
    "user.delete": _("Deleted a user"),
    "group.create": _("Added a user group"),
    "group.update": _("Changed a user group"),
    "group.delete": _("Deleted a user group"),
}

# Actions whose stored summary is the operator's own words (a name): shown as it is. An
# announcement's title is its target's name already: its audience and schedule are shown.
SUMMARY_IS_CONTENT = {
    "audience.create",
    "audience.edit",
}
ABOUT_AN_ANNOUNCEMENT_SAVED = {"announcement.create", "announcement.edit"}


# Actions whose stored summary is the names of the fields changed: shown in words.
SUMMARY_IS_FIELDS = {
    "bot.update",
    "endpoint.update",
    "conversation.update",
    "user.update",
    "group.update",
}

# Actions about one of a bot's operators: the operator's name is shown.
ABOUT_AN_OPERATOR = {"bot.operator_add", "bot.operator_remove"}


def words(code: str) -> str:
    return str(WORDS.get(code, code))


# Actions about users and groups have no bot: only superusers read them, so only
# their filters offer them.
SUPERUSERS_ONLY = {code for code in WORDS if code.startswith(("user.", "group."))}


# Codes of earlier releases filed under the code that does the same now: the filters offer
# one entry ("Rotated a webhook endpoint's signing secret", not two near-identical ones),
# which finds both; an old entry still reads as what it was.
FILED_UNDER = {"signing_secret.rotate": "endpoint.rotate_signing_secret"}


def filed_under(code: str) -> str:
    """The filter entry that finds entries of `code` (itself, or the code it was renamed to)."""
    return FILED_UNDER.get(code, code)


def codes(code: str) -> list[str]:
    """The codes a filter entry finds: its own, and the earlier ones filed under it."""
    return [code, *(old for old, new in FILED_UNDER.items() if new == code)]


def choices(user) -> list[tuple[str, str]]:
    """For a filter: every code `user` may read entries of, with its words, in the order
    above; an earlier code is found by the entry it is filed under."""
    return [
        (code, str(label))
        for code, label in WORDS.items()
        if (user.is_superuser or code not in SUPERUSERS_ONLY) and code not in FILED_UNDER
    ]
