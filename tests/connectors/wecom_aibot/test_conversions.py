import pytest

from connectors.conversions import convert, escape_markdown, route
from connectors.wecom_aibot import WeComAIBotConnector
from conversations.models import Bot


@pytest.fixture
def connector() -> WeComAIBotConnector:
    return WeComAIBotConnector(Bot(name="a", connector="wecom_aibot"))


def test_plain_text_becomes_markdown_that_renders_the_same_characters():
    text = "# not a heading\n- not a list\n3. not numbered\n*a* _b_ `c` [d](e) <font> a|b ~x~ \\"
    assert escape_markdown(text) == (
        "\\# not a heading\n\\- not a list\n3\\. not numbered\n"
        "\\*a\\* \\_b\\_ \\`c\\` \\[d\\](e) \\<font\\> a\\|b \\~x\\~ \\\\"
    )
    assert escape_markdown("价格 3.5 元，#1 a-b") == "价格 3.5 元，#1 a-b"


def test_a_text_is_sent_as_escaped_markdown_because_wecom_refuses_proactive_text(connector):
    converted = convert(
        connector,
        {"msgtype": "text", "text": {"content": "**hi**", "mentioned_list": ["zhangsan", "@all"]}},
    )
    assert converted.sent_as == "markdown"
    assert converted.bodies == [
        {"msgtype": "markdown", "markdown": {"content": "<@zhangsan>\n\\*\\*hi\\*\\*"}}
    ]
    assert converted.note == "sent as markdown: this connector has no text"


def test_a_link_becomes_a_news_card_with_its_picture_or_a_text_card_without(connector):
    with_picture = {
        "title": "t",
        "url": "https://e.com",
        "desc": "d",
        "image_url": "https://e.com/p.png",
    }
    card = convert(connector, {"msgtype": "link", "link": with_picture}).bodies[0]["template_card"]
    assert card == {
        "card_type": "news_notice",
        "main_title": {"title": "t", "desc": "d"},
        "card_image": {"url": "https://e.com/p.png"},
        "card_action": {"type": 1, "url": "https://e.com"},
    }
    plain = convert(connector, {"msgtype": "link", "link": {"title": "t", "url": "https://e.com"}})
    assert plain.bodies[0]["template_card"]["card_type"] == "text_notice"


def test_news_becomes_one_card_per_article(connector):
    articles = [{"title": f"a{i}", "url": f"https://e.com/{i}"} for i in range(3)]
    converted = convert(connector, {"msgtype": "news", "news": {"articles": articles}})
    assert [b["template_card"]["card_action"]["url"] for b in converted.bodies] == [
        "https://e.com/0", "https://e.com/1", "https://e.com/2",
    ]  # fmt: skip


def test_a_mini_program_becomes_a_card_that_opens_it(connector):
    body = {
        "msgtype": "miniprogram",
        "miniprogram": {"appid": "wx1", "title": "t", "page_path": "pages/a", "appname": "App"},
    }
    card = convert(connector, body).bodies[0]["template_card"]
    assert card["card_action"] == {"type": 2, "appid": "wx1", "pagepath": "pages/a"}
    assert card["main_title"] == {"title": "t", "desc": "App"}


def test_markdown_and_images_go_as_they_are():
    native = WeComAIBotConnector.native_msgtypes
    assert route(WeComAIBotConnector, "markdown", native) == ["markdown"]
    assert route(WeComAIBotConnector, "image", native) == ["image"]
    assert route(WeComAIBotConnector, "markdown_v2", native) == ["markdown_v2", "markdown"]
