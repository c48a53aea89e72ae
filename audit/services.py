"""Record what operators do: the second half of the audit log (the first is the message log)."""

from .models import OperatorAction


def record_action(
    actor, action: str, *, bot=None, target=None, summary: str = "", details: dict | None = None
) -> OperatorAction:
    """Record one operator action, e.g. record_action(user, "secret.rotate", bot=bot).

    `action` is a dotted verb (`announcement.create`, `announcement.cancel`,
    `secret.rotate`, `bot.update`, `delivery.replay`, …); `target` any model
    instance the action was about.
    """
    return OperatorAction.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        bot=bot,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        summary=summary,
        details=details or {},
    )
