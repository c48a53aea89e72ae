"""Every link the console's setup pages make into its documentation (the "Create a bot"
tabs, the bots' setup checklists and guides, the "Where to find it" of each credential)
lands on a section that exists in English and in Simplified Chinese, the console's
default: a translation of the document exists and has the anchor."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from django.urls import reverse

from connectors.registry import CONNECTORS

DOCS_LINK = re.compile(r'href="/console/docs/(?P<name>[a-z0-9-]+)/#(?P<anchor>[^"]+)"')
APP_SETTINGS = {
    "corp_id": "ww0123456789abcdef",
    "agent_id": 1000002,
    "app_secret": "s" * 43,
    "callback_token": "t" * 16,
    "encoding_aes_key": "k" * 43,
}


@pytest.fixture
def setup_pages(make_bot, make_operator, client):
    """The console's setup pages a bot admin sees: each connector's tab of "Create a
    bot" and a bot page of each connector."""
    bots = [
        make_bot(name="agent"),
        make_bot(name="robot", connector="wecom_robot", agent_url="", agent_token=""),
        make_bot(
            name="app",
            connector="wecom_app",
            agent_url="",
            agent_token="",
            connector_settings=APP_SETTINGS,
        ),
        make_bot(
            name="aibot",
            connector="wecom_aibot",
            agent_url="",
            agent_token="",
            connector_settings={"bot_id": "b1", "bot_secret": "s"},
        ),
    ]
    assert {bot.connector for bot in bots} == set(CONNECTORS)
    client.force_login(make_operator("admin", *bots))
    create = reverse("console:bot_create")
    return client, [f"{create}?connector={kind}" for kind in CONNECTORS] + [
        reverse("console:bot", args=[bot.pk]) for bot in bots
    ]


def docs_links(client, urls) -> set[tuple[str, str]]:
    links = set()
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        links |= {(m["name"], unquote(m["anchor"])) for m in DOCS_LINK.finditer(html)}
    return links


def test_every_docs_link_of_the_setup_pages_lands_on_its_section_in_both_languages(
    setup_pages,
):
    client, urls = setup_pages
    links = docs_links(client, urls)
    # Each connector's section, the checklists' steps and each credential's help.
    assert len(links) >= 10, links
    assert ("bots", "a-groups-robot-key") in links and ("bots", "the-gateway") in links

    missing = []
    for language in ("zh-hans", "en"):
        client.post(reverse("set_language"), {"language": language, "next": "/console/"})
        for name, anchor in sorted(links):
            html = client.get(reverse("console:docs", args=[name])).content.decode()
            if 'id="docs-untranslated"' in html:
                missing.append(f"{language}: docs/{name}.md has no translation")
            if f'id="{anchor}"' not in html:
                missing.append(f"{language}: docs/{name}.md has no #{anchor}")
    assert not missing, "\n".join(missing)


def test_each_credential_of_the_create_form_says_where_to_find_it(setup_pages):
    client, _urls = setup_pages
    guide = reverse("console:docs", args=["bots"])

    app = client.get(reverse("console:bot_create"), {"connector": "wecom_app"}).content.decode()
    aibot = client.get(reverse("console:bot_create"), {"connector": "wecom_aibot"})

    for name in ("corp_id", "agent_id", "app_secret", "callback_token", "encoding_aes_key"):
        help_text = app.split(f'id="id_settings-{name}_helptext">')[1].split("</div>")[0]
        assert f'<a href="{guide}#in-wecoms-admin-console" class="help-docs">在哪里找到</a>' in (
            help_text
        )
    assert "我的企业 → 企业信息" in app and "设置API接收" in app
    assert "安全与管理 → 管理工具 → 智能机器人" in aibot.content.decode()
