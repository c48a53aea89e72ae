"""A card's lists and areas have the fields WeCom requires of them, and no more entries.

WeCom's template card documents (group robot 91770 / 99110, app 90236, AI bot 101032):
`horizontal_content_list` (at most 6) entries need a `keyname`, and by their `type` a
`url` (1), a `media_id` (2) or a `userid` (3); `jump_list` (at most 3) entries need a
`title`, and a `url` (type 1) or an `appid` (type 2); `vertical_content_list` (at most 4)
entries a `title`; `quote_area` and `image_text_area` a `url` (type 1) or an `appid`
(type 2). botadmin refuses such a card with 40058 naming the field when it is sent, rather
than storing a card WeCom refuses at delivery."""

import pytest

from messaging.models import Message

from .test_send_api import accepted, refused, schema_accepts, validated_for_an_app

PICTURE = "https://ci.example/shot.png"
NEWS = {
    "card_type": "news_notice",
    "main_title": {"title": "发布成功"},
    "card_image": {"url": PICTURE},
    "card_action": {"type": 1, "url": "https://ci.example/builds/42"},
}
ROW = {"keyname": "分支", "value": "main"}
JUMP = {"type": 1, "title": "构建日志", "url": "https://ci.example/builds/42/log"}
LINE = {"title": "耗时", "desc": "3 分钟"}


def _card(**parts) -> dict:
    """A news_notice card with `parts`; a part given as None is left out."""
    card = {name: part for name, part in {**NEWS, **parts}.items() if part is not None}
    return {"msgtype": "template_card", "template_card": card}


WELL_FORMED = {
    "rows of every type": {
        "horizontal_content_list": [
            ROW,
            {"type": 0, "keyname": "提交", "value": "a1b2c3"},
            {"type": 1, "keyname": "构建", "value": "#42", "url": "https://ci.example/42"},
            {"type": 2, "keyname": "日志", "value": "build.log", "media_id": "MEDIA_1"},
            {"type": 3, "keyname": "发起人", "value": "张三", "userid": "zhangsan"},
            {"keyname": "环境", "value": "production"},
        ]
    },
    "no rows": {"horizontal_content_list": [], "jump_list": [], "vertical_content_list": []},
    "three jumps": {
        "jump_list": [
            JUMP,
            {"type": 2, "title": "小程序", "appid": "wx0123456789abcdef"},
            {"title": "只是一行字"},
        ]
    },
    "four lines": {"vertical_content_list": [LINE, LINE, LINE, {"title": "完成"}]},
    "quote opening a url": {"quote_area": {"type": 1, "url": "https://ci.example", "title": "PR"}},
    "quote opening nothing": {"quote_area": {"type": 0, "quote_text": "修复登录"}},
    "area opening a mini program": {
        "card_image": None,
        "image_text_area": {"type": 2, "appid": "wx0123456789abcdef", "image_url": PICTURE},
    },
    # WeCom's lengths of these words are advice ("建议不超过5个字"), not limits.
    "a long keyname": {
        "horizontal_content_list": [{"keyname": "很长的二级标题名称", "value": "x"}]
    },
}


@pytest.mark.parametrize("parts", WELL_FORMED.values(), ids=WELL_FORMED.keys())
def test_a_card_with_well_formed_lists_and_areas_is_accepted(send, robot_bot, robot_group, parts):
    body = _card(**parts)

    assert accepted(send(robot_bot.secret, "robotGroup1", body)).body == body


REFUSED = {
    "row without keyname": (
        {"horizontal_content_list": [ROW, {"value": "main"}]},
        "invalid field: template_card.horizontal_content_list[1].keyname is required",
    ),
    "blank keyname": (
        {"horizontal_content_list": [{"keyname": " ", "value": "main"}]},
        "invalid field: template_card.horizontal_content_list[0].keyname is required",
    ),
    "row linking nowhere": (
        {"horizontal_content_list": [{"type": 1, "keyname": "构建"}]},
        "invalid field: template_card.horizontal_content_list[0].url is required when "
        "horizontal_content_list[0].type is 1",
    ),
    "attachment without media_id": (
        {"horizontal_content_list": [ROW, ROW, {"type": 2, "keyname": "日志"}]},
        "invalid field: template_card.horizontal_content_list[2].media_id is required when "
        "horizontal_content_list[2].type is 2",
    ),
    "member without userid": (
        {"horizontal_content_list": [{"type": 3, "keyname": "发起人", "userid": ""}]},
        "invalid field: template_card.horizontal_content_list[0].userid is empty",
    ),
    "seven rows": (
        {"horizontal_content_list": [ROW] * 7},
        "invalid field: template_card.horizontal_content_list has 7 entries, at most 6",
    ),
    "rows not a list": (
        {"horizontal_content_list": ROW},
        "invalid field: template_card.horizontal_content_list must be an array, not an object",
    ),
    "row not an object": (
        {"horizontal_content_list": ["分支: main"]},
        "invalid field: template_card.horizontal_content_list[0] must be an object, not a string",
    ),
    "jump without title": (
        {"jump_list": [JUMP, {"type": 1, "url": "https://ci.example"}]},
        "invalid field: template_card.jump_list[1].title is required",
    ),
    "jump to no mini program": (
        {"jump_list": [{"type": 2, "title": "小程序"}]},
        "invalid field: template_card.jump_list[0].appid is required when jump_list[0].type is 2",
    ),
    "jump type a string": (
        {"jump_list": [{**JUMP, "type": "1"}]},
        "invalid field: template_card.jump_list[0].type must be an integer, not a string",
    ),
    "four jumps": (
        {"jump_list": [JUMP] * 4},
        "invalid field: template_card.jump_list has 4 entries, at most 3",
    ),
    "line without title": (
        {"vertical_content_list": [LINE, {"desc": "3 分钟"}]},
        "invalid field: template_card.vertical_content_list[1].title is required",
    ),
    "line title a number": (
        {"vertical_content_list": [{"title": 3}]},
        "invalid field: template_card.vertical_content_list[0].title must be a string, "
        "not a number",
    ),
    "five lines": (
        {"vertical_content_list": [LINE] * 5},
        "invalid field: template_card.vertical_content_list has 5 entries, at most 4",
    ),
    "quote linking nowhere": (
        {"quote_area": {"type": 1, "title": "PR"}},
        "invalid field: template_card.quote_area.url is required when quote_area.type is 1",
    ),
    "quote to no mini program": (
        {"quote_area": {"type": 2, "appid": "  "}},
        "invalid field: template_card.quote_area.appid is empty",
    ),
    "quote not an object": (
        {"quote_area": "修复登录"},
        "invalid field: template_card.quote_area must be an object, not a string",
    ),
    "area linking nowhere": (
        {"image_text_area": {"type": 1, "image_url": PICTURE}},
        "invalid field: template_card.image_text_area.url is required when "
        "image_text_area.type is 1",
    ),
}


@pytest.mark.parametrize(("parts", "errmsg"), REFUSED.values(), ids=REFUSED.keys())
def test_a_card_part_without_a_required_field_or_with_too_many_entries_is_40058(
    send, robot_bot, robot_group, parts, errmsg
):
    answer = send(robot_bot.secret, "robotGroup1", _card(**parts))

    assert refused(answer, 40058, 400) == errmsg
    assert not Message.objects.exists()


def test_an_interactive_card_to_a_wecom_app_is_checked_the_same(send, make_bot, make_conversation):
    app = make_bot(name="hr-app", connector="wecom_app", agent_url="", agent_token="")
    make_conversation(app, "zhangsan", name="张三")
    card = {
        "card_type": "button_interaction",
        "task_id": "deploy-7",
        "main_title": {"title": "发布到生产？"},
        "jump_list": [{"type": 1, "title": "变更"}],
        "button_list": [{"text": "发布", "key": "go"}],
    }
    body = {"msgtype": "template_card", "template_card": card}

    answer = send(app.secret, "zhangsan", body)

    assert refused(answer, 40058, 400) == (
        "invalid field: template_card.jump_list[0].url is required when jump_list[0].type is 1"
    )


@pytest.mark.parametrize(
    "parts",
    [parts for parts, _ in REFUSED.values()] + list(WELL_FORMED.values()),
    ids=[f"refused: {name}" for name in REFUSED] + [f"accepted: {name}" for name in WELL_FORMED],
)
def test_the_openapi_body_schema_says_what_a_card_part_needs(client, db, parts):
    body = _card(**parts)

    assert schema_accepts(client, body) is validated_for_an_app(body)
