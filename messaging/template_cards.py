"""The checks of a `template_card` body (messaging.validation's check for that msgtype).

What the schema (`messaging.schemas.TemplateCard`) cannot say: which card types and
action menus the bot's connector sends, the fields WeCom requires of a card type, and
the task_id a card's clicks come back with.
"""

from botadmin.errors import Err
from connectors.base import Limits

from .card_task_ids import well_formed_task_id
from .field_checks import check_max
from .schemas import INTERACTIVE_CARDS, NOTICE_CARDS, TASK_ID_MAX_BYTES


def check_template_card(payload: dict, limits: Limits, connector) -> None:
    if connector.card_types is not None and payload["card_type"] not in connector.card_types:
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.card_type: a {connector.english_label()} bot sends "
            f"{' and '.join(sorted(connector.card_types))} cards only"
        )
    if not connector.card_action_menus and payload.get("action_menu") is not None:
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.action_menu is not supported by the "
            f"{connector.english_label()}"
        )
    if payload["card_type"] in NOTICE_CARDS and not isinstance(payload.get("card_action"), dict):
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.card_action (an object) is required by a "
            f"{payload['card_type']} card"
        )
    if payload.get("task_id") == "":
        # An optional field left empty by the tool that wrote the body: WeCom refuses an
        # empty task_id (42014) where it would take none.
        del payload["task_id"]
    task_id = payload.get("task_id")
    # A click on the card or its action_menu comes back with the task_id (WeCom: 42014).
    if payload["card_type"] in INTERACTIVE_CARDS:
        needed_by = f"a {payload['card_type']} card"
    elif payload.get("action_menu") is not None:
        needed_by = "a card with an action_menu"
    else:
        needed_by = ""
    if needed_by and not (task_id or "").strip():
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.task_id is required by {needed_by}"
        )
    if task_id is not None:
        check_max(task_id, TASK_ID_MAX_BYTES, "template_card.task_id")
        if not well_formed_task_id(task_id):
            raise Err.FIELD_INVALID.error(
                "invalid field: template_card.task_id may hold only letters, digits, _, - and @"
            )
    title = payload.get("main_title")
    if isinstance(title, dict) and isinstance(title.get("title"), str):
        check_max(title["title"], limits.title, "template_card.main_title.title")
