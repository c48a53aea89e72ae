"""Admin lists are filtered only by the filters they show (botadmin/admin_lookups.py):
a query-string lookup on a secret never narrows a list, or a list that shows a row
only when a guess is right would hand the secret out a character at a time."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import reverse
from django.utils import timezone

from audit.services import record_action
from botadmin.admin_lookups import DeclaredFiltersChangeList
from connectors import bot_settings
from connectors.registry import CONNECTORS
from conversations.models import Bot, Conversation, SyncRun
from conversations.roles import is_bot_admin
from deletions.models import DeletionJob
from forwarding.models import WebhookDelivery, WebhookEndpoint
from messaging.models import DeliveryAttempt, Message

User = get_user_model()


def secret_fields() -> dict[type[models.Model], list[str]]:
    """Each model's secrets, as lookup paths: the bot's credentials, every setting a
    connector's form marks secret (a column, or a key of connector_settings), the
    agent URL (connector settings are for bot admins), robot keys, webhook endpoints' signing
    secrets, password hashes."""
    columns = {field.name for field in Bot._meta.concrete_fields}
    bot = ["secret", "previous_secret", "signing_secret", "previous_signing_secret"]
    bot += ["agent_token", "agent_url"]
    for connector in CONNECTORS.values():
        for name, field in bot_settings.fields(connector).items():
            path = name if name in columns else f"connector_settings__{name}"
            if bot_settings.is_secret(field) and path not in bot:
                bot.append(path)
    return {
        Bot: bot,
        Conversation: ["robot_key"],
        WebhookEndpoint: ["signing_secret", "previous_signing_secret"],
        User: ["password"],
    }


SECRETS = secret_fields()


def secret_paths(model) -> list[tuple[str, str]]:
    """(path, field) for every secret reachable from `model` in at most two relations
    (either way, never through the same model twice): `bot__secret`, `conversations__robot_key`."""
    found = [("", name) for name in SECRETS.get(model, [])]
    routes = [("", model, {model})]
    for _depth in range(2):
        further = []
        for prefix, current, seen in routes:
            for field in current._meta.get_fields():
                target = field.related_model if field.is_relation else None
                if target is None or target in seen:
                    continue
                path = f"{prefix}{field.name}__"
                found += [(path, name) for name in SECRETS.get(target, [])]
                further.append((path, target, seen | {target}))
        routes = further
    return found


# Values no stored secret matches: a list filtered by one of them would be empty.
NOTHING_MATCHES = [
    ("", "no-such-value"),
    ("__startswith", "no-such-prefix"),
    ("__regex", "^no-such-prefix"),
    ("__regex", "("),  # not a regex: the database's error was a 500
    ("__gt", "~~~~"),
    ("__isnull", "1"),
]


def registered_admins() -> list[str]:
    return sorted(model._meta.label for model in admin.site._registry)


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.fixture
def rows(make_bot, make_conversation, superuser):
    """A bot per connector with every secret set, and a row of every admin's model for each."""
    bots = []
    for kind, connector in CONNECTORS.items():
        values = {name: f"{kind}-{name}-s3cr3t" for name in bot_settings.fields(connector)}
        bot = make_bot(name=f"victim-{kind}", connector=kind)
        bot_settings.store(connector, bot, values)
        bot.previous_secret = "previous-s3cr3t"
        bot.previous_signing_secret = "previous-signing-s3cr3t"
        bot.save()
        bots.append(bot)
        conversation = make_conversation(bot, f"wr-{kind}", robot_key=f"rk-{kind}-s3cr3t")
        message = Message.objects.create(
            bot=bot,
            conversation=conversation,
            direction=Message.Direction.OUT,
            msgtype="text",
            body={"msgtype": "text", "text": {"content": "hello"}},
            status=Message.Status.SENT,
            source=Message.Source.API,
            created_by=superuser,
        )
        DeliveryAttempt.objects.create(
            message=message, started_at=timezone.now(), outcome=DeliveryAttempt.Outcome.SENT
        )
        endpoint = WebhookEndpoint.objects.create(
            bot=bot,
            url=f"https://hooks.example/{kind}",
            previous_signing_secret="whsec_previous-s3cr3t",
        )
        WebhookDelivery.objects.create(message=message, endpoint=endpoint)
        SyncRun.objects.create(bot=bot, trigger="admin", outcome="succeeded")
        record_action(superuser, "secret.rotate", bot=bot, target=bot)
        DeletionJob.objects.create(
            kind="conversation", target_id=conversation.pk, bot_ref=bot.pk, requested_by=superuser
        )
    Group.objects.create(name="operators").user_set.add(superuser)
    return bots


@pytest.fixture
def operator(rows, make_operator):
    """A staff operator of every bot who may see every list but reveal no secret."""
    user = make_operator("plainop", *rows)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_operatoraction", "view_user", "view_group", "view_deletionjob"]
        )
    )
    user = User.objects.get(pk=user.pk)
    assert not any(is_bot_admin(user, bot) for bot in rows)
    return user


def listed(response) -> list:
    return [row.pk for row in response.context["cl"].result_list]


@pytest.mark.parametrize("who", ["operator", "superuser"])
@pytest.mark.parametrize("label", registered_admins())
def test_no_lookup_on_a_secret_narrows_an_admin_list(client, request, rows, who, label):
    model = next(model for model in admin.site._registry if model._meta.label == label)
    client.force_login(request.getfixturevalue(who))
    url = changelist(model)
    everything = listed(client.get(url))
    assert everything, "a list with no rows cannot show a filter"

    paths = secret_paths(model)
    assert paths, f"{label} reaches no secret: the list of secrets is wrong"
    for prefix, name in paths:
        # Through a relation Django refuses most lookups itself: one is enough.
        lookups = NOTHING_MATCHES if not prefix else NOTHING_MATCHES[1:2]
        for lookup, value in lookups:
            parameter = f"{prefix}{name}{lookup}"
            response = client.get(url, {parameter: value})
            assert response.status_code in (200, 302, 400), parameter
            if response.status_code == 200:
                assert listed(response) == everything, parameter
            elif response.status_code == 302:
                assert response["Location"].endswith("?e=1"), parameter


def test_the_review_case_an_operator_cannot_read_the_api_secret_by_prefix(client, rows, operator):
    client.force_login(operator)
    bot = rows[0]
    url = changelist(Bot)
    for parameter in ("secret__startswith", "secret__regex", "secret"):
        assert client.get(url, {parameter: bot.secret[:1]}).status_code == 400
    robot_key = Conversation.objects.filter(bot=bot).get().robot_key
    assert client.get(changelist(Conversation), {"robot_key": robot_key}).status_code == 400
    for query in (
        "secret__regex=(",
        "previous_secret__gt=a",
        "agent_token__lt=zzzz",
        "connector_settings__has_key=app_secret",
        "operators__password__startswith=pbkdf2",
        "operators__username=plainop",
    ):
        assert client.get(f"{url}?{query}").status_code == 400, query


def test_every_admin_list_takes_only_its_own_filters():
    for model_admin in admin.site._registry.values():
        changelist_class = model_admin.get_changelist(None)
        assert issubclass(changelist_class, DeclaredFiltersChangeList), model_admin


@pytest.mark.parametrize("label", registered_admins())
def test_no_admin_searches_filters_or_sorts_by_a_secret(label):
    model, model_admin = next(
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.label == label
    )
    secret = {(owner, name.split("__")[0]) for owner, names in SECRETS.items() for name in names}

    def names_a_secret(path: str) -> bool:
        try:
            fields = get_fields_from_path(model, path.lstrip("^=@"))
        except FieldDoesNotExist:  # an annotation the admin's queryset adds
            return False
        return any((field.model, field.name) in secret for field in fields)

    paths = [*model_admin.search_fields]
    for item in model_admin.list_filter:
        if isinstance(item, (list, tuple)):
            paths.append(item[0])
        elif isinstance(item, str):
            paths.append(item)
    if model_admin.date_hierarchy:
        paths.append(model_admin.date_hierarchy)
    for column in model_admin.list_display:
        ordering = column if isinstance(column, str) else None
        attribute = getattr(model_admin, column, None) if isinstance(column, str) else column
        if attribute is not None:
            ordering = getattr(attribute, "admin_order_field", None)
        if isinstance(ordering, str):
            paths.append(ordering.lstrip("-"))
    paths += [path.lstrip("-") for path in model_admin.ordering or () if isinstance(path, str)]
    assert not [path for path in paths if names_a_secret(path)]


JUNK = ["(", "-1", "99999999999999999999", "a\x00b"]


@pytest.mark.parametrize("label", registered_admins())
def test_an_admin_list_filter_given_junk_is_never_a_500(client, rows, operator, label):
    model = next(model for model in admin.site._registry if model._meta.label == label)
    client.force_login(operator)
    url = changelist(model)
    page = client.get(url)
    parameters = {p for spec in page.context["cl"].filter_specs for p in spec.expected_parameters()}
    hierarchy = admin.site._registry[model].date_hierarchy
    if hierarchy:
        parameters |= {f"{hierarchy}__year", f"{hierarchy}__month", f"{hierarchy}__day"}
    for parameter in sorted(parameters):
        for value in JUNK:
            response = client.get(url, {parameter: value})
            assert response.status_code in (200, 302, 400), (parameter, value)
    if admin.site._registry[model].search_fields:
        assert client.get(url, {"q": "a\x00b"}).status_code in (200, 302, 400)


def test_the_lists_own_filters_still_filter(client, rows, operator):
    client.force_login(operator)
    bot = rows[0]
    # The bot page links to its conversations so.
    response = client.get(changelist(Conversation), {"bot__id__exact": bot.pk})
    assert listed(response) == [bot.conversations.get().pk]
    response = client.get(
        changelist(WebhookDelivery), {"endpoint__id__exact": bot.webhook_endpoints.get().pk}
    )
    assert len(listed(response)) == 1
    response = client.get(changelist(Bot), {"connector__exact": bot.connector})
    assert listed(response) == [bot.pk]
    year = timezone.now().year
    response = client.get(changelist(SyncRun), {"requested_at__year": year})
    assert len(listed(response)) == len(rows)
    response = client.get(changelist(SyncRun), {"requested_at__year": year - 1})
    assert listed(response) == []


def test_a_date_hierarchys_own_bounds_are_not_a_lookup_anyone_may_give(client, superuser, rows):
    client.force_login(superuser)
    response = client.get(changelist(SyncRun), {"requested_at__gte": "2000-01-01"})
    assert response.status_code == 400
