"""The compose form's values for an existing announcement, and for a bot switched to."""

from .audience import MATCHING, RULE_FOR_KIND, Audience
from .forms import ComposeForm
from .models import Announcement


def initial_from(announcement: Announcement) -> dict:
    """Form values that show an existing announcement again."""
    msgtype = announcement.msgtype
    payload = dict(announcement.body.get(msgtype) or {})
    if msgtype == "news":
        payload = (payload.get("articles") or [{}])[0]
    if msgtype == "text" and payload.get("mentioned_list"):
        payload["mentioned_list"] = ", ".join(payload["mentioned_list"])
    initial = {f"{msgtype}__{key}": value for key, value in payload.items()}
    spec = announcement.schedule
    initial.update(
        title=announcement.title,
        msgtype=msgtype,
        **audience_initial(announcement),
        saved_audience=announcement.saved_audience_id,
        kind=announcement.schedule_kind,
        timezone=announcement.timezone,
        **{key: spec.get(key) for key in ("at", "time", "weekdays", "month_day", "cron", "until")},
    )
    return initial


# A bot's own conversations, picked one by one or saved: meaningless for another bot.
BOT_CONVERSATION_FIELDS = ("audience_base", "conversations", "removed", "saved_audience")


def typed_for_bot_switch(data, *, same_bot: bool) -> dict:
    """Initial values for the compose form of the bot switched to: what the operator
    posted, except another bot's conversations and the uploaded image (a browser
    does not send a file again)."""
    left_out = {"image_file", "staged_image", *(() if same_bot else BOT_CONVERSATION_FIELDS)}
    return {
        name: field.widget.value_from_datadict(data, {}, name)
        for name, field in ComposeForm.base_fields.items()
        if name in data and name not in left_out
    }


def audience_initial(announcement: Announcement) -> dict:
    """The picker's fields for an announcement's audience: its list as the base, or its rule."""
    if announcement.audience == Audience.LISTED:
        return {"audience": Audience.LISTED, "audience_base": f"announcement:{announcement.pk}"}
    if not announcement.audience_search:
        return {"audience": announcement.audience}
    kind = {rule: kind for kind, rule in RULE_FOR_KIND.items()}[announcement.audience]
    return {
        "audience": MATCHING,
        "audience_query": announcement.audience_search,
        "audience_kind": kind,
    }
