"""What a connector cannot send natively is converted, with real bodies from the tools users run.

The bodies in tests/connectors/bodies/ are what Gitea, Grafana, Jenkins,
Uptime Kuma and Apprise post to a WeCom robot URL (shared/spec/wecom.md
section 3), plus a markdown_v2 report and a 3-article news message.
"""

import json
from pathlib import Path

import pytest

from connectors import conversions
from connectors.bridge import V1_MSGTYPES, BridgeConnector
from connectors.wecom_aibot import WeComAIBotConnector
from connectors.wecom_app import WeComAppConnector
from connectors.wecom_robot import WeComRobotConnector
from conversations.models import Bot

BODIES = Path(__file__).parent / "bodies"


def body(name: str) -> dict:
    return json.loads((BODIES / f"{name}.json").read_text())


def bridge(msgtypes=None) -> BridgeConnector:
    state = {"msgtypes": list(msgtypes)} if msgtypes is not None else {}
    return BridgeConnector(Bot(name="b", connector="bridge", connector_state=state))


def robot() -> WeComRobotConnector:
    return WeComRobotConnector(Bot(name="r", connector="wecom_robot"))


def only_text(converted) -> str:
    assert converted.sent_as == "text" and len(converted.bodies) == 1
    return converted.bodies[0]["text"]["content"]


def test_giteas_push_markdown_reaches_a_v1_agent_as_readable_text():
    converted = conversions.convert(bridge(), body("gitea_push_markdown"))

    text = only_text(converted)
    assert text.splitlines()[0] == "acme/shop:main   [2 new commits]"
    assert "3f2a9c1: https://gitea.example.com/acme/shop/commit/3f2a9c1" in text
    assert "Fix the login redirect" in text and "Author: Li Na" in text
    assert "<font" not in text and "](" not in text and "\r" not in text
    assert converted.note == "sent as text: this connector has no markdown"


def test_grafanas_alert_keeps_its_title_labels_and_links():
    text = only_text(conversions.convert(bridge(), body("grafana_alert_markdown")))

    lines = text.splitlines()
    assert lines[0] == "[FIRING:1]  (HighCPU web-1)"
    assert lines[1] == "Firing"
    assert "• alertname = HighCPU" in lines
    assert "Source: https://grafana.example.com/alerting/grafana/cdx1/view?orgId=1" in lines


def test_jenkins_markdown_turns_mentions_and_links_into_words():
    text = only_text(conversions.convert(bridge(), body("jenkins_build_markdown")))

    assert text.splitlines()[0] == "[shop-backend]构建失败"
    assert "构建结果：FAILURE" in text
    assert "查看控制台: https://jenkins.example.com/job/shop-backend/128/console" in text
    assert text.endswith("@wangwei")


@pytest.mark.parametrize(
    "text",
    [
        "*urgent* see [the doc](x) now",
        "a_b_c ~~not struck~~ <@not_a_mention>",
        r"a \ backslash",
        "title\n---\nnot a heading, no rule",
        "title\n===\n-\n--",
        "  indented first line\n    deeper\nback at the margin",
        "one blank line\n\ntwo blank lines\n\n\nend",
        " 1. not a list\n\t- nor this\n   > nor a quote",
    ],
)
def test_text_escaped_as_markdown_reads_back_as_the_same_text(text):
    # A text sent to a markdown-only connector is escaped (the AI bot), and a markdown
    # welcome message goes back to text: the operator's characters must survive both.
    assert conversions.markdown_to_text(conversions.escape_markdown(text)) == text


def test_three_blank_lines_or_more_become_two_and_blank_lines_around_the_text_go():
    assert conversions.markdown_to_text("\n\n  a\n\n\n\n\nb\n\n") == "  a\n\n\nb"


def test_escaped_marks_are_kept_while_real_emphasis_goes():
    content = r"**bold** and \*literal stars\* and \[brackets\](kept)"

    assert conversions.markdown_to_text(content) == "bold and *literal stars* and [brackets](kept)"


def test_markdown_v2_tables_lists_and_code_become_plain_rows():
    text = only_text(conversions.convert(bridge(), body("markdown_v2_table")))

    assert text.splitlines()[0] == "Weekly report"
    assert "shop | 99.95% | 1" in text and "api | 100% | 0" in text
    assert ":---" not in text and "**" not in text
    assert "2. Move db-1 to the new disk" in text
    assert "• check backups" in text
    assert "systemctl restart shop" in text and "```" not in text
    assert "Full report: https://status.example.com/week/48" in text


def test_news_reaches_a_v1_agent_as_one_link_per_article():
    converted = conversions.convert(bridge(), body("news_three_articles"))

    assert converted.sent_as == "link"
    assert [b["link"]["title"] for b in converted.bodies] == [
        "Release 4.2 is out",
        "Maintenance on Saturday",
        "Hiring: two backend engineers",
    ]
    assert converted.bodies[0]["link"] == {
        "title": "Release 4.2 is out",
        "url": "https://example.com/blog/release-4-2",
        "desc": "Faster exports and a new dashboard",
        "image_url": "https://example.com/img/release-4-2.png",
    }
    assert converted.note == "sent as 3 link messages: this connector has no news"


def test_news_is_text_where_the_agent_sends_no_links():
    text = only_text(conversions.convert(bridge(["text"]), body("news_three_articles")))

    assert text.split("\n\n")[1] == (
        "Maintenance on Saturday: https://example.com/status/maintenance\n"
        "The shop is read-only from 02:00 to 04:00"
    )


@pytest.mark.parametrize(
    "name", ["gitea_push_markdown", "grafana_alert_markdown", "jenkins_build_markdown"]
)
def test_an_agent_announcing_markdown_gets_markdown_unchanged(name):
    original = body(name)
    converted = conversions.convert(bridge([*V1_MSGTYPES, "markdown"]), original)

    assert converted.bodies == [original] and converted.note == ""


def test_markdown_v2_goes_to_a_markdown_agent_as_markdown():
    converted = conversions.convert(bridge([*V1_MSGTYPES, "markdown"]), body("markdown_v2_table"))

    assert converted.sent_as == "markdown"
    assert converted.bodies[0]["markdown"]["content"].startswith("## Weekly report")


@pytest.mark.parametrize("name", ["uptime_kuma_text", "apprise_text", "jenkins_mentions_text"])
def test_texts_go_through_every_connector_as_they_are(name):
    for connector in (bridge(), robot()):
        converted = conversions.convert(connector, body(name))
        assert converted.bodies == [body(name)] and converted.note == ""


def test_a_link_is_a_one_article_news_card_for_the_robot():
    link = {"title": "Docs", "url": "https://example.com/docs", "desc": "Read me"}

    converted = conversions.convert(robot(), {"msgtype": "link", "link": link})

    assert converted.bodies == [
        {
            "msgtype": "news",
            "news": {
                "articles": [
                    {"title": "Docs", "url": "https://example.com/docs", "description": "Read me"}
                ]
            },
        }
    ]


def test_a_mini_program_with_a_web_page_reaches_the_robot_as_a_news_card():
    mini = {"appid": "wx1", "title": "Order 42", "page_path": "https://shop.example.com/o/42"}

    converted = conversions.convert(robot(), {"msgtype": "miniprogram", "miniprogram": mini})

    assert converted.steps == ["miniprogram", "link", "news"]
    assert converted.bodies[0]["news"]["articles"][0]["url"] == "https://shop.example.com/o/42"


def test_a_mini_program_without_a_web_page_cannot_reach_the_robot():
    mini = {"appid": "wx1", "title": "Order 42", "page_path": "pages/order?id=42"}

    with pytest.raises(conversions.CannotConvert) as refused:
        conversions.convert(robot(), {"msgtype": "miniprogram", "miniprogram": mini})

    assert "WeCom group robot" in str(refused.value) and "page_path" in str(refused.value)


def test_long_markdown_is_cut_to_the_connectors_text_limit():
    long = {"msgtype": "markdown", "markdown": {"content": "# T\n" + "字" * 10_000}}

    text = only_text(conversions.convert(bridge(), long))

    assert len(text.encode()) <= BridgeConnector.limits.text and text.endswith("…")


def test_the_conversion_tables_say_what_each_connector_does():
    assert conversions.table(BridgeConnector) == {
        "file": "",  # refused: no file in the bridge protocol
        "image": "image",
        "link": "link",
        "markdown": "markdown → text",
        "markdown_v2": "markdown_v2 → text",
        "miniprogram": "miniprogram",
        "news": "news → link",
        "template_card": "",  # refused: the bridge protocol has no cards
        "text": "text",
        "voice": "",  # refused unless the agent announces it
    }
    robot = conversions.table(WeComRobotConnector)
    assert robot["miniprogram"] == "miniprogram → link → news"
    assert robot["link"] == "link → news"
    assert (robot["file"], robot["voice"]) == ("file", "voice")
    app = conversions.table(WeComAppConnector)
    assert (app["file"], app["voice"], app["template_card"]) == ("file", "voice", "template_card")
    assert conversions.table(WeComAIBotConnector)["voice"] == "voice"
    assert app["miniprogram"] == "miniprogram → link"  # a notice only with linked mini programs
