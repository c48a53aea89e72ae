"""A notice card shows something, as WeCom's template card documents require.

WeCom's group robot documentation (91770 / 99110), like its app's (90236) and AI bot's
(101032): a text_notice card's "一级标题main_title.title和二级普通文本sub_title_text必须有一项
填写"; a news_notice card's picture is its card_image or its image_text_area ("两者必填一个
字段，不可都不填"), card_image.url and image_text_area.image_url required. botadmin refuses
such a card with 40058 when it is sent, naming the field, rather than storing a card WeCom
refuses at delivery."""

import pytest

from messaging.models import Message

from .test_send_api import accepted, refused

OPENS = {"type": 1, "url": "https://ci.example/builds/42"}
PICTURE = "https://ci.example/shot.png"


def _card(**fields) -> dict:
    return {"msgtype": "template_card", "template_card": {"card_action": OPENS, **fields}}


@pytest.mark.parametrize(
    "words",
    [
        {"main_title": {"title": "发布成功"}},
        {"sub_title_text": "main #42 deployed"},
        {"main_title": {"desc": "main #42"}, "sub_title_text": "deployed"},
    ],
    ids=["title", "sub_title_text", "desc and sub_title_text"],
)
def test_a_text_notice_with_a_title_or_a_sub_title_text_is_accepted(
    send, robot_bot, robot_group, words
):
    body = _card(card_type="text_notice", **words)

    message = accepted(send(robot_bot.secret, "robotGroup1", body))

    assert message.body == body


TEXT_NOTICE_NEEDS_WORDS = (
    "invalid field: a text_notice card needs template_card.main_title.title or "
    "template_card.sub_title_text"
)


@pytest.mark.parametrize(
    ("words", "errmsg"),
    [
        ({}, TEXT_NOTICE_NEEDS_WORDS),
        ({"main_title": {"desc": "main #42"}}, TEXT_NOTICE_NEEDS_WORDS),
        ({"main_title": {"title": "  "}, "sub_title_text": ""}, TEXT_NOTICE_NEEDS_WORDS),
        (
            {"main_title": "发布成功"},
            "invalid field: template_card.main_title must be an object, not a string",
        ),
        (
            {"sub_title_text": 42},
            "invalid field: template_card.sub_title_text must be a string, not a number",
        ),
    ],
    ids=["neither", "only a desc", "blank", "title not an object", "sub_title_text a number"],
)
def test_a_text_notice_with_neither_title_nor_sub_title_text_is_40058_and_stores_nothing(
    send, robot_bot, robot_group, words, errmsg
):
    answer = send(robot_bot.secret, "robotGroup1", _card(card_type="text_notice", **words))

    assert refused(answer, 40058, 400) == errmsg
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "picture",
    [
        {"card_image": {"url": PICTURE, "aspect_ratio": 2.25}},
        {"image_text_area": {"type": 1, "url": "https://ci.example", "image_url": PICTURE}},
    ],
    ids=["card_image", "image_text_area"],
)
def test_a_news_notice_with_a_picture_is_accepted(send, robot_bot, robot_group, picture):
    body = _card(card_type="news_notice", main_title={"title": "发布成功"}, **picture)

    assert accepted(send(robot_bot.secret, "robotGroup1", body)).body == body


@pytest.mark.parametrize(
    ("picture", "errmsg"),
    [
        (
            {},
            "invalid field: a news_notice card needs template_card.card_image or "
            "template_card.image_text_area",
        ),
        (
            {"card_image": {"aspect_ratio": 1.3}},
            "invalid field: template_card.card_image.url is required",
        ),
        ({"card_image": {"url": " "}}, "invalid field: template_card.card_image.url is required"),
        (
            {"card_image": {"url": "ftp://ci.example/shot.png"}},
            "invalid field: template_card.card_image.url must be an http(s) URL",
        ),
        (
            {"image_text_area": {"title": "构建"}},
            "invalid field: template_card.image_text_area.image_url is required",
        ),
        (
            {"card_image": PICTURE},
            "invalid field: template_card.card_image must be an object, not a string",
        ),
    ],
    ids=[
        "none",
        "card_image without url",
        "blank url",
        "ftp url",
        "area without image",
        "url only",
    ],
)
def test_a_news_notice_without_a_picture_is_40058_and_stores_nothing(
    send, robot_bot, robot_group, picture, errmsg
):
    body = _card(card_type="news_notice", main_title={"title": "发布成功"}, **picture)

    assert refused(send(robot_bot.secret, "robotGroup1", body), 40058, 400) == errmsg
