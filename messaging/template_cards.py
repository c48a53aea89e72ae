"""The checks of a `template_card` body (messaging.validation's check for that msgtype).

What the schema (`messaging.schemas.TemplateCard`) cannot say: which card types and
action menus the bot's connector sends, the fields WeCom requires of a card type, and
the task_id a card's clicks come back with.
"""

from botadmin.errors import Err
from connectors.base import Limits

from .card_parts import OPENS, check_card_parts, check_opened, given_text
from .card_task_ids import well_formed_task_id
from .field_checks import check_max, check_url
from .field_errors import wrong_type
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
    _check_card_action(payload)
    check_card_parts(payload)
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
    if payload["card_type"] == "text_notice":
        _check_text_notice_words(payload)
    elif payload["card_type"] == "news_notice":
        _check_news_notice_picture(payload)


def _check_text_notice_words(payload: dict) -> None:
    # WeCom (robot 91770 / 99110, app 90236, AI bot 101032): "一级标题main_title.title和
    # 二级普通文本sub_title_text必须有一项填写". Blank is none: the card would show nothing.
    title = payload.get("main_title")
    if title is not None and not isinstance(title, dict):
        raise wrong_type("template_card.main_title", "an object", title)
    has_title = given_text(title or {}, "template_card.main_title", "title")
    if not has_title and not given_text(payload, "template_card", "sub_title_text"):
        raise Err.FIELD_INVALID.error(
            "invalid field: a text_notice card needs template_card.main_title.title or "
            "template_card.sub_title_text",
            empty_field="template_card.main_title.title",
        )


# A news_notice card's picture: the big card_image or the image of its image_text_area,
# each with its URL ("card_image和image_text_area两者必填一个字段，不可都不填"; card_image.url
# and image_text_area.image_url "是" required in every WeCom card document).
NEWS_PICTURES = {"card_image": "url", "image_text_area": "image_url"}


def _check_news_notice_picture(payload: dict) -> None:
    if all(payload.get(name) is None for name in NEWS_PICTURES):
        raise Err.FIELD_INVALID.error(
            "invalid field: a news_notice card needs template_card.card_image or "
            "template_card.image_text_area",
            empty_field="template_card.card_image",
        )
    for name, url in NEWS_PICTURES.items():
        picture = payload.get(name)
        if picture is None:
            continue
        where = f"template_card.{name}"
        if not isinstance(picture, dict):
            raise wrong_type(where, "an object", picture)
        if not given_text(picture, where, url):
            raise Err.FIELD_INVALID.error(
                f"invalid field: {where}.{url} is required", empty_field=f"{where}.{url}"
            )
        check_url(picture[url], f"{where}.{url}")


# What a click on the whole card opens (WeCom's CardAction.type, `card_parts.OPENS`): 0 or
# none is no link, which the notice cards may not have ("取值范围为[1,2]"; WeCom's group
# robot answers 42045 "card_action Missing or Invalid" to a type 0).
def _check_card_action(payload: dict) -> None:
    card_type, action = payload["card_type"], payload.get("card_action")
    if card_type in NOTICE_CARDS and not isinstance(action, dict):
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.card_action (an object) is required by a "
            f"{card_type} card"
        )
    if action is None:
        return  # an interactive card's is optional
    if not isinstance(action, dict):
        raise wrong_type("template_card.card_action", "an object", action)
    if action.get("type") is None and card_type in NOTICE_CARDS:
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.card_action.type is required by a {card_type} "
            "card: 1 (open its url) or 2 (open the mini program of its appid)",
            empty_field="template_card.card_action.type",
        )
    kind = check_opened(action, "template_card.card_action", OPENS)
    if card_type in NOTICE_CARDS and kind not in OPENS:
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.card_action.type must be 1 (open its url) or 2 "
            f"(open the mini program of its appid) in a {card_type} card, not {kind}"
        )
