"""Record what operators do: the second half of the audit log (the first is the message log)."""

from datetime import timedelta

from django.utils import timezone

from botadmin.logging import mask_secrets

from .models import OperatorAction
from .targets import parts_of, stored_label


def _masked_values(value):
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {key: _masked_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked_values(item) for item in value]
    return value


def _label(value, size: int) -> str:
    return mask_secrets(str(value))[:size] if value is not None else ""


def record_action(
    actor,
    action: str,
    *,
    bot=None,
    target=None,
    summary: str = "",
    details: dict | None = None,
    label: str | None = None,
) -> OperatorAction:
    """Record one operator action, e.g. record_action(user, "secret.rotate", bot=bot).

    `action` is a dotted verb (`announcement.create`, `announcement.cancel`,
    `secret.rotate`, `bot.update`, `delivery.replay`, …); `target` any model
    instance the action was about, named by `label` (default: its name, said in
    the reader's language when shown: audit/targets.py). The names of the actor,
    the bot and the target are kept with the entry, so it still says who did what
    to which after they are deleted. Secrets in URLs
    and bodies are masked in the names, the summary and the details.
    """
    authenticated = getattr(actor, "is_authenticated", False)
    # A name given by the caller is shown as it is; a target's own is named when read.
    parts = parts_of(target) if label is None else {}
    if label is None and target is not None:
        label = stored_label(target)
    return OperatorAction.objects.create(
        actor=actor if authenticated else None,
        actor_label=_label(actor.get_username(), 150) if authenticated else "",
        bot=bot,
        bot_label=_label(bot, 200),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=_label(label, 200),
        target_parts=_masked_values(parts),
        summary=mask_secrets(summary),
        details=_masked_values(details or {}),
    )


def via_key(via: str) -> str:
    """Where an action was done, as its entry's details name it ("console", "admin",
    "command line"), from the words a summary ends with (" in the console")."""
    return via.strip().removeprefix("in the ").removeprefix("from the ")


# How long a page's id keeps telling a second post of it apart (a double click, a reload
# that posts again): a page posted a day later acts again.
PAGE_REMEMBERED = timedelta(days=1)


def recorded_from_page(action: str, *, bot, target, submission: str) -> OperatorAction | None:
    """The entry of `action` on `target` recorded from the page `submission` (its id,
    botadmin.forms.SubmissionField, in the entry's details), if that page did it in the last
    day; None for "" (a post from elsewhere). The caller holds a lock that makes two posts
    of the page take turns, so the second finds the first's entry."""
    if not submission:
        return None
    return (
        OperatorAction.objects.filter(
            bot=bot,  # audit_bot_time_idx: the bot's last day only
            created_at__gte=timezone.now() - PAGE_REMEMBERED,
            action=action,
            target_type=target._meta.label_lower,
            target_id=str(target.pk),
            details__submission=submission,
        )
        .order_by("-created_at")
        .first()
    )
