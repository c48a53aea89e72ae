import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from botadmin.timezones import offered_zone_names
from conversations.bot_changes import time_zone_field
from conversations.models import Bot, Conversation
from conversations.secrets import is_valid_api_secret


def test_new_bot_gets_a_long_url_safe_secret(bot):
    assert is_valid_api_secret(bot.secret)
    assert len(bot.secret) >= 32


def test_each_bot_gets_a_different_secret(make_bot):
    assert make_bot().secret != make_bot().secret


@pytest.mark.parametrize(
    "secret", ["short", "has spaces in it and is quite long enough!!", "x" * 31]
)
def test_a_malformed_secret_is_rejected(bot, secret):
    bot.secret = secret
    with pytest.raises(ValidationError) as error:
        bot.full_clean()
    assert "secret" in error.value.message_dict


def test_a_bridge_bot_needs_an_agent_url_and_a_long_token(db):
    bot = Bot(name="b", connector="bridge", agent_url="", agent_token="short")
    with pytest.raises(ValidationError) as error:
        bot.full_clean()
    assert set(error.value.message_dict) >= {"agent_url", "agent_token"}


def test_a_robot_bot_needs_no_agent(db):
    Bot(name="robot", connector="wecom_robot").full_clean()


def test_a_conversation_id_is_unique_per_bot(bot, make_bot, make_conversation):
    make_conversation(bot, "wr1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_conversation(bot, "wr1")
    # The same id under another bot is a different conversation.
    other = make_conversation(make_bot(), "wr1")
    assert Conversation.objects.filter(conversation_id="wr1").count() == 2
    assert other.pk


@pytest.mark.parametrize("zone", ["Factory", "localtime", "Etc/GMT-8", "EST5EDT", "Zulu"])
def test_a_bot_cannot_be_given_a_pseudo_zone(bot, zone):
    """Listed by the zoneinfo database, but no place: the forms do not offer them."""
    bot.timezone = zone
    with pytest.raises(ValidationError) as error:
        bot.full_clean()
    assert list(error.value.message_dict) == ["timezone"]


@pytest.mark.parametrize("alias", ["PRC", "Asia/Calcutta", "Asia/Chungking", "US/Pacific", "W-SU"])
def test_a_bot_cannot_be_given_a_deprecated_alias_but_keeps_one_it_has(bot, alias):
    """Links the zoneinfo database keeps for old names: offered as if they were places."""
    bot.timezone = alias
    with pytest.raises(ValidationError):
        bot.full_clean()

    Bot.objects.filter(pk=bot.pk).update(timezone=alias)
    bot.refresh_from_db()
    bot.full_clean()  # stored before: still valid while unchanged
    field = time_zone_field(bot)
    assert field.valid_value(alias) and not field.valid_value("PRC" if alias != "PRC" else "W-SU")


def test_the_time_zones_offered_are_places_by_their_names_common_ones_first():
    zones = offered_zone_names()

    assert zones[:6] == (
        "Asia/Shanghai", "UTC", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Macau", "Asia/Singapore"
    )  # fmt: skip
    assert {"Asia/Kolkata", "Europe/Amsterdam", "America/Argentina/Buenos_Aires"} <= set(zones)
    legacy = {"PRC", "ROC", "Asia/Calcutta", "Asia/Saigon", "US/Eastern", "Canada/Pacific"}
    assert not legacy & set(zones) and len(zones) == len(set(zones))
    assert all("/" in zone for zone in zones if zone != "UTC")


def test_a_new_bot_cannot_start_with_a_pseudo_zone(db):
    new = Bot(name="new", connector="wecom_robot", timezone="Factory")
    with pytest.raises(ValidationError) as error:
        new.full_clean()
    assert list(error.value.message_dict) == ["timezone"]


@pytest.mark.parametrize("zone", ["", "UTC", "Asia/Shanghai", "America/Argentina/Buenos_Aires"])
def test_a_bot_takes_a_place_utc_or_the_servers_zone(bot, zone):
    bot.timezone = zone
    bot.full_clean()


def test_the_servers_own_zone_is_accepted_even_when_it_is_no_place(bot, settings):
    settings.TIME_ZONE = "Etc/GMT-8"
    bot.timezone = "Etc/GMT-8"
    bot.full_clean()


def test_a_pseudo_zone_stored_before_the_list_hid_it_stays_while_unchanged(bot):
    Bot.objects.filter(pk=bot.pk).update(timezone="Factory")
    bot.refresh_from_db()
    bot.rate_limit_per_minute = 7
    bot.full_clean()  # unchanged: still valid

    bot.timezone = "localtime"  # another pseudo zone is a change
    with pytest.raises(ValidationError) as error:
        bot.full_clean()
    assert list(error.value.message_dict) == ["timezone"]


def test_a_pseudo_zone_is_refused_along_with_the_connectors_own_errors(db):
    new = Bot(name="b", connector="bridge", agent_url="", timezone="Factory")
    with pytest.raises(ValidationError) as error:
        new.full_clean()
    assert set(error.value.message_dict) >= {"timezone", "agent_url"}


def test_an_unknown_zone_is_refused_once(bot):
    bot.timezone = "Mars/Olympus"
    with pytest.raises(ValidationError) as error:
        bot.full_clean()
    assert len(error.value.message_dict["timezone"]) == 1  # not also "no place"


def test_a_group_robots_conversations_are_groups_and_a_bridges_may_be_users(
    make_bot, make_conversation
):
    robot = make_bot(connector="wecom_robot", agent_url="", agent_token="")
    bridge = make_bot()
    key = "5b1f3c2a-9d4e-4f60-8a7b-0c1d2e3f4a5b"

    with pytest.raises(ValidationError) as error:
        Conversation(bot=robot, conversation_id="ops", kind="user", robot_key=key).full_clean()
    assert list(error.value.message_dict) == ["kind"]
    Conversation(bot=robot, conversation_id="ops", kind="group", robot_key=key).full_clean()
    Conversation(bot=bridge, conversation_id="wmUser", kind="user").full_clean()


def test_the_migration_makes_a_group_robots_hand_added_users_groups(make_bot, make_conversation):
    """Before the form offered only groups, a robot's group could be stored as a user."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "conversations.migrations.0023_conversations_of_a_kind_their_connector_posts_to"
    )
    robot = make_bot(connector="wecom_robot", agent_url="", agent_token="")
    entered_as_user = make_conversation(robot, "ops-alerts", kind="user", robot_key="k")
    group = make_conversation(robot, "sales", kind="group", robot_key="k")
    bridge_user = make_conversation(make_bot(), "wmUser", kind="user")

    migration.to_a_kind_the_connector_posts_to(apps, None)

    for conversation in (entered_as_user, group, bridge_user):
        conversation.refresh_from_db()
    assert (entered_as_user.kind, group.kind, bridge_user.kind) == ("group", "group", "user")
