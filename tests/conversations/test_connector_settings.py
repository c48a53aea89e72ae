"""A bot's connector settings come from its connector's form: admin, createbot and the model agree."""

import json
from io import StringIO

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from connectors import registry
from connectors.base import Connector, Limits
from conversations.models import Bot


class CorpSettings(forms.Form):
    corp_id = forms.CharField(label=_("corp ID"), max_length=32)
    app_secret = forms.CharField(label="app secret", widget=forms.PasswordInput)


class CorpConnector(Connector):
    """A connector whose settings have no Bot column: they live in connector_settings."""

    kind = "test_corp"
    label = "Corp app"
    native_msgtypes = frozenset({"text"})
    limits = Limits(text=2048, markdown=4096, title=128, description=512, image=1024)
    settings_form = CorpSettings
    default_rate_limit = 30


@pytest.fixture
def corp_connector(db, monkeypatch):
    monkeypatch.setitem(registry.CONNECTORS, CorpConnector.kind, CorpConnector)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    client.cookies["django_language"] = "en"
    return client


def bot_form(**fields) -> dict:
    return {
        "name": "corp",
        "is_active": "on",
        "connector": "bridge",
        "agent_url": "",
        "agent_token": "",
        "corp_id": "",
        "app_secret": "",
        "webhook_url": "",
        "rate_limit_per_minute": 20,
        **fields,
    }


def test_a_bridge_bot_without_url_and_token_is_refused_by_the_model_with_the_connectors_words(db):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        Bot(name="b", connector="bridge", agent_url="", agent_token="short").full_clean()
    assert refused.value.message_dict["agent_token"] == [
        "The agent token must be at least 32 characters."
    ]


def test_createbot_takes_a_connectors_settings_as_options_and_its_pacing_default(corp_connector):
    # The registry is read when the command's options are built.
    out = StringIO()
    call_command(
        "createbot", "--name", "corp", "--connector", "test_corp", "--corp-id", "ww1",
        "--app-secret", "s3cret", stdout=out,
    )  # fmt: skip

    bot = Bot.objects.get(pk=json.loads(out.getvalue())["id"])
    assert bot.connector_settings == {"corp_id": "ww1", "app_secret": "s3cret"}
    assert bot.rate_limit_per_minute == 30


def test_createbot_refuses_a_missing_setting_with_the_field_name(corp_connector):
    with pytest.raises(CommandError) as refused:
        call_command("createbot", "--name", "corp", "--connector", "test_corp", stdout=StringIO())
    assert "corp_id" in str(refused.value) and "app_secret" in str(refused.value)


def test_the_admin_stores_settings_without_a_column_and_keeps_an_empty_secret(
    corp_connector, admin_client
):
    add = admin_client.post(
        reverse("admin:conversations_bot_add"),
        bot_form(connector="test_corp", corp_id="ww1", app_secret="s3cret"),
    )
    assert add.status_code == 302, add.content.decode()[:3000]
    bot = Bot.objects.get(name="corp")
    assert bot.connector_settings == {"corp_id": "ww1", "app_secret": "s3cret"}

    change = admin_client.post(
        reverse("admin:conversations_bot_change", args=[bot.pk]),
        bot_form(connector="test_corp", corp_id="ww2", app_secret=""),
    )

    assert change.status_code == 302
    bot.refresh_from_db()
    assert bot.connector_settings == {"corp_id": "ww2", "app_secret": "s3cret"}


def test_the_admin_shows_the_chosen_connectors_errors_only(corp_connector, admin_client):
    page = admin_client.post(
        reverse("admin:conversations_bot_add"), bot_form(connector="test_corp", corp_id="ww1")
    )

    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert set(errors) == {"app_secret"}  # not the bridge's agent_url / agent_token


def test_the_bot_page_has_a_fieldset_per_connector_and_says_what_the_bot_sends(
    admin_client, make_bot
):
    bot = make_bot(
        connector_state={"msgtypes": ["text", "markdown"], "checked_at": "2026-12-01T09:00:00"}
    )

    page = admin_client.get(reverse("admin:conversations_bot_change", args=[bot.pk]))

    html = page.content.decode()
    assert "connector-bridge" in html
    assert "markdown, text (asked 2026-12-01T09:00:00)" in html
