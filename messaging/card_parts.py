"""The lists and areas of a `template_card`, checked as WeCom documents their fields.

WeCom's template card documents (group robot 91770 / 99110, app 90236, AI bot 101032)
say the same of these parts for every card type and connector, so each rule is said
once here: `messaging.template_cards` checks a card with it and `messaging.schemas`
describes it in the OpenAPI schema. A refused part is 40058 naming its path
(`template_card.jump_list[1].title`).

WeCom's lengths of the words in these parts are advice ("建议不超过5个字"), not limits
it enforces, so botadmin does not refuse a longer one.
"""

from dataclasses import dataclass

from botadmin.errors import Err

from .field_errors import wrong_type

# A string with something other than spaces in it.
NOT_BLANK = {"type": "string", "pattern": "\\S"}

# What a click on an area or a jump opens: type 1 its url, 2 the mini program of its
# appid (pagepath optional); 0 or none, nothing.
OPENS = {1: "url", 2: "appid"}


@dataclass(frozen=True)
class CardList:
    """A list of a card: "列表长度不超过N", each entry with the field it must have ("是")
    and the field its `type` requires ("…type是1时必填")."""

    most: int
    needs: str
    targets: dict[int, str]


CARD_LISTS = {
    # type 1 opens its url, 2 downloads the file of its media_id, 3 shows the member
    # of its userid.
    "horizontal_content_list": CardList(6, "keyname", {1: "url", 2: "media_id", 3: "userid"}),
    "jump_list": CardList(3, "title", OPENS),
    "vertical_content_list": CardList(4, "title", {}),
}
# The areas a click may open something from, by their own `type`.
CLICKABLE_AREAS = ("quote_area", "image_text_area")


def check_card_parts(payload: dict) -> None:
    for name, card_list in CARD_LISTS.items():
        entries = payload.get(name)
        if entries is None:
            continue
        where = f"template_card.{name}"
        if not isinstance(entries, list):
            raise wrong_type(where, "an array", entries)
        if len(entries) > card_list.most:
            raise Err.FIELD_INVALID.error(
                f"invalid field: {where} has {len(entries)} entries, at most {card_list.most}"
            )
        for index, entry in enumerate(entries):
            _check_entry(entry, f"{where}[{index}]", card_list)
    for name in CLICKABLE_AREAS:
        area = payload.get(name)
        if area is None:
            continue
        if not isinstance(area, dict):
            raise wrong_type(f"template_card.{name}", "an object", area)
        check_opened(area, f"template_card.{name}", OPENS)


def _check_entry(entry, where: str, card_list: CardList) -> None:
    if not isinstance(entry, dict):
        raise wrong_type(where, "an object", entry)
    if not given_text(entry, where, card_list.needs):
        raise Err.FIELD_INVALID.error(
            f"invalid field: {where}.{card_list.needs} is required",
            empty_field=f"{where}.{card_list.needs}",
        )
    check_opened(entry, where, card_list.targets)


def given_text(part: dict, where: str, name: str) -> bool:
    """Whether `part[name]` is a string with words; wrong types are 40058."""
    value = part.get(name)
    if value is not None and not isinstance(value, str):
        raise wrong_type(f"{where}.{name}", "a string", value)
    return bool((value or "").strip())


def check_opened(part: dict, where: str, targets: dict[int, str]) -> int | None:
    """The field `part`'s `type` requires, given and not blank; answers the type.

    A type WeCom documents nothing for here (0, or one it may add) requires nothing.
    """
    kind = part.get("type")
    if kind is None:
        return None
    if isinstance(kind, bool) or not isinstance(kind, int):
        raise wrong_type(f"{where}.type", "an integer", kind)
    target = targets.get(kind)
    if target is None:
        return kind
    path = f"{where}.{target}"
    if target not in part:
        short = where.removeprefix("template_card.")
        raise Err.FIELD_INVALID.error(
            f"invalid field: {path} is required when {short}.type is {kind}",
            empty_field=path,
        )
    if not isinstance(part[target], str):
        raise wrong_type(path, "a string", part[target])
    if not part[target].strip():
        raise Err.FIELD_INVALID.error(f"invalid field: {path} is empty", empty_field=path)
    return kind


def opened_by_type(targets: dict[int, str]) -> dict:
    """The JSON Schema of `check_opened` (no `allOf` for a part no type opens anything of:
    JSON Schema wants at least one entry in it)."""
    schema: dict = {"properties": {"type": {"type": "integer"}}}
    if targets:
        schema["allOf"] = [
            {
                "if": {"required": ["type"], "properties": {"type": {"const": kind}}},
                "then": {"required": [target], "properties": {target: NOT_BLANK}},
            }
            for kind, target in targets.items()
        ]
    return schema


def part_schemas() -> dict:
    """The JSON Schema of each list and area, by its field name in the card."""
    schemas = {
        name: {
            "type": "array",
            "maxItems": card_list.most,
            "items": {
                "type": "object",
                "required": [card_list.needs],
                **opened_by_type(card_list.targets),
            },
        }
        for name, card_list in CARD_LISTS.items()
    }
    for name, card_list in CARD_LISTS.items():
        schemas[name]["items"]["properties"][card_list.needs] = NOT_BLANK
    for name in CLICKABLE_AREAS:
        schemas[name] = {"type": "object", **opened_by_type(OPENS)}
    return schemas
