"""Two tabs on one bot's connector settings, for every connector with settings (the
bridge's are in test_bot_forms.py): each tab saves only what it changed, so a stale
tab undoes nothing another saved since; a secret left empty and a masked URL sent back
as shown keep the stored ones, and a secret typed in is a change, on record by name."""

import pytest
from django.urls import reverse

from audit.models import OperatorAction
from tests.connectors.wecom_app.conftest import app_settings
from tests.html_forms import submitted_form

AI_SECRET = "ai-secret-0123456789"
AI_URL = "wss://gw:WS-pw@gw.example/ws"


@pytest.fixture
def app_bot(make_bot, operator, settings):
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = ["127.0.0.0/8"]
    bot = make_bot(
        name="hr-app",
        connector="wecom_app",
        agent_url="",
        agent_token="",
        # As the console stores them: the agent ID a number, no proxy password.
        connector_settings=app_settings(
            agent_id=1000002, proxy_url="http://botadmin@127.0.0.1:3128", proxy_password=""
        ),
    )
    bot.operators.add(operator)
    return bot


@pytest.fixture
def ai_bot(make_bot, operator):
    bot = make_bot(
        name="ai",
        connector="wecom_aibot",
        agent_url="",
        agent_token="",
        connector_settings={"bot_id": "aibAAAA", "bot_secret": AI_SECRET, "ws_url": AI_URL},
    )
    bot.operators.add(operator)
    return bot


def a_tab(client, bot) -> dict[str, list[str]]:
    """The connector form as a newly loaded page would post it."""
    page = client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    return submitted_form(page, "connector-form")


def save(client, bot, tab: dict, **changes):
    """Post `tab` with `changes` typed in (a field's value; None unticks a box)."""
    data = dict(tab)
    for name, value in changes.items():
        data.pop(f"settings-{name}", None)
        if value is not None:
            data[f"settings-{name}"] = value
    response = client.post(reverse("console:bot_connector", args=[bot.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    bot.refresh_from_db()
    return response


def changes_on_record(bot) -> list[list[str]]:
    return [
        entry.details["changed"]
        for entry in OperatorAction.objects.filter(action="bot.update", bot=bot).order_by("pk")
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"corp_id": "wwNEWCORP01"}, {"licensed_accounts": "50"}),
        ({"miniprogram_notice": "on"}, {"agent_id": "1000099"}),
        ({"proxy_url": "http://other@127.0.0.2:3128"}, {"corp_id": "wwNEWCORP02"}),
    ],
)
def test_two_tabs_on_an_app_bot_keep_each_others_changes(operator_client, app_bot, first, second):
    tab_a, tab_b = a_tab(operator_client, app_bot), a_tab(operator_client, app_bot)

    save(operator_client, app_bot, tab_a, **first)
    save(operator_client, app_bot, tab_b, **second)

    stored = app_bot.connector_settings
    for name, value in (first | second).items():
        assert str(stored[name]) == ("True" if value == "on" else value), name
    assert stored["app_secret"] == app_settings()["app_secret"]
    assert changes_on_record(app_bot) == [list(first), list(second)]


def test_a_stale_app_tab_unticks_nothing_another_tab_ticked(operator_client, app_bot):
    """The box for linked mini programs posts nothing when unticked: a stale tab that
    showed it unticked must not untick it again."""
    tab_a, tab_b = a_tab(operator_client, app_bot), a_tab(operator_client, app_bot)
    save(operator_client, app_bot, tab_a, miniprogram_notice="on")
    ticked = a_tab(operator_client, app_bot)

    save(operator_client, app_bot, tab_b, licensed_accounts="20")
    assert app_bot.connector_settings["miniprogram_notice"] is True
    save(operator_client, app_bot, ticked, miniprogram_notice=None)  # unticked on purpose
    assert app_bot.connector_settings["miniprogram_notice"] is False


def test_an_app_bots_secrets_and_masked_proxy_sent_back_as_shown_keep_the_stored_ones(
    operator_client, app_bot
):
    stored = dict(app_bot.connector_settings)
    tab = a_tab(operator_client, app_bot)
    assert tab["settings-proxy_url"] == ["http://********@127.0.0.1:3128"]
    assert tab["settings-app_secret"] == tab["settings-encoding_aes_key"] == [""]

    save(operator_client, app_bot, tab)
    # A masked URL typed in again as shown, in a tab that did not post what it showed.
    save(
        operator_client,
        app_bot,
        {k: v for k, v in tab.items() if not k.startswith("initial-")},
        proxy_url="http://********@127.0.0.1:3128",
    )

    assert app_bot.connector_settings == stored
    assert changes_on_record(app_bot) == []


def test_an_app_bots_secret_typed_in_a_stale_tab_rotates_it_on_record_by_name(
    operator_client, app_bot
):
    tab_a, tab_b = a_tab(operator_client, app_bot), a_tab(operator_client, app_bot)
    save(operator_client, app_bot, tab_a, corp_id="wwNEWCORP03")

    save(operator_client, app_bot, tab_b, app_secret="new-app-secret-42")

    assert app_bot.connector_settings["app_secret"] == "new-app-secret-42"
    assert app_bot.connector_settings["corp_id"] == "wwNEWCORP03"
    assert changes_on_record(app_bot) == [["corp_id"], ["app_secret"]]
    entry = OperatorAction.objects.filter(bot=app_bot).latest("pk")
    assert "new-app-secret-42" not in entry.summary + str(entry.details)


def test_two_tabs_on_an_ai_bot_keep_each_others_changes(operator_client, ai_bot):
    tab_a, tab_b = a_tab(operator_client, ai_bot), a_tab(operator_client, ai_bot)

    save(operator_client, ai_bot, tab_a, bot_id="aibBBBB")
    save(operator_client, ai_bot, tab_b, ws_url="wss://gw2.example/ws")

    assert ai_bot.connector_settings == {
        "bot_id": "aibBBBB",
        "bot_secret": AI_SECRET,
        "ws_url": "wss://gw2.example/ws",
    }
    assert changes_on_record(ai_bot) == [["bot_id"], ["ws_url"]]


def test_a_stale_ai_bot_tab_keeps_a_masked_url_changed_since(operator_client, ai_bot):
    stale = a_tab(operator_client, ai_bot)
    assert stale["settings-ws_url"] == ["wss://********@gw.example/ws"]
    assert stale["settings-bot_secret"] == [""]
    save(operator_client, ai_bot, a_tab(operator_client, ai_bot), ws_url="wss://gw:NEW@gw3.ex/")

    save(operator_client, ai_bot, stale)  # sent back as shown: nothing changed
    save(operator_client, ai_bot, stale, bot_id="aibCCCC")

    assert ai_bot.connector_settings == {
        "bot_id": "aibCCCC",
        "bot_secret": AI_SECRET,
        "ws_url": "wss://gw:NEW@gw3.ex/",
    }
    assert changes_on_record(ai_bot) == [["ws_url"], ["bot_id"]]


def test_an_ai_bots_secret_typed_in_a_stale_tab_rotates_it_on_record_by_name(
    operator_client, ai_bot
):
    tab_a, tab_b = a_tab(operator_client, ai_bot), a_tab(operator_client, ai_bot)
    save(operator_client, ai_bot, tab_a, ws_url="wss://gw4.example/ws")

    save(operator_client, ai_bot, tab_b, bot_secret="new-ai-secret-77")

    assert ai_bot.connector_settings == {
        "bot_id": "aibAAAA",
        "bot_secret": "new-ai-secret-77",
        "ws_url": "wss://gw4.example/ws",
    }
    assert changes_on_record(ai_bot) == [["ws_url"], ["bot_secret"]]
    entry = OperatorAction.objects.filter(bot=ai_bot).latest("pk")
    assert "new-ai-secret-77" not in entry.summary + str(entry.details)


def test_a_group_robot_has_no_connector_settings_a_stale_post_could_change(
    operator_client, operator, make_bot
):
    """The group robot's keys are its group chats' (one per chat, entered with the chat):
    its page has no connector settings form, and a post to it changes nothing."""
    robot = make_bot(name="robot", connector="wecom_robot", agent_url="", agent_token="")
    robot.operators.add(operator)
    page = operator_client.get(reverse("console:bot", args=[robot.pk])).content.decode()

    response = operator_client.post(
        reverse("console:bot_connector", args=[robot.pk]), {"settings-robot_key": "x"}
    )

    assert 'id="connector-form"' not in page
    assert response.status_code == 302
    robot.refresh_from_db()
    assert robot.connector_settings in ({}, None)
    assert changes_on_record(robot) == []


def test_a_stale_tab_shown_again_with_an_error_still_keeps_another_tabs_change(
    operator_client, app_bot, ai_bot
):
    """The page shown again with the error keeps what the first page showed, so the
    corrected post still saves only what that tab changed."""
    for bot, first, wrong, right in (
        (app_bot, {"corp_id": "wwNEWCORP04"}, {"licensed_accounts": "0"}, "licensed_accounts"),
        (ai_bot, {"ws_url": "wss://gw5.example/ws"}, {"bot_id": "bad id"}, "bot_id"),
    ):
        tab_a, tab_b = a_tab(operator_client, bot), a_tab(operator_client, bot)
        save(operator_client, bot, tab_a, **first)
        url = reverse("console:bot_connector", args=[bot.pk])
        refused = operator_client.post(
            url, {**tab_b, **{f"settings-{k}": v for k, v in wrong.items()}}
        )
        assert refused.status_code == 400
        shown_again = submitted_form(refused.content.decode(), "connector-form")

        save(operator_client, bot, shown_again, **{right: "51" if right != "bot_id" else "aibD"})

        for name, value in first.items():
            assert bot.connector_settings[name] == value
        assert str(bot.connector_settings[right]) in ("51", "aibD")
