"""A bot's webhooks in the console: operators see endpoints, health and deliveries;
only bot admins add, change, test and replay."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone, translation
from standardwebhooks.webhooks import Webhook

from audit.models import OperatorAction
from audit.services import record_action
from devtools.receiver import Receiver
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from forwarding.replay import TEST_EVENT_OUTCOME_DUE
from messaging.status_labels import clock_time
from tests.html_forms import submitted_form


@pytest.fixture
def endpoint(bot, receiver):
    return WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/hook"), msgtypes=["text"])


@pytest.fixture
def failed(endpoint, group, make_message):
    message = make_message(group, text="订单 42 的问题")
    delivery = WebhookDelivery.objects.create(
        message=message, endpoint=endpoint, status="failed", attempt_count=2, last_http_status=500
    )
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        url=endpoint.url,
        started_at=timezone.now(),
        outcome="failure",
        http_status=500,
        response_text="boom",
    )
    return delivery


def url(name, bot, *args):
    return reverse(f"console:{name}", args=[bot.pk, *args])


def test_operators_see_endpoints_health_deliveries_and_attempts(
    operator_client, bot, endpoint, failed
):
    listing = operator_client.get(url("webhooks", bot)).content.decode()
    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()

    assert endpoint.url in listing and ">文本<" in listing and "尚无投递" in listing
    assert "订单 42 的问题" in page and "boom" in page and "2 次尝试" in page
    assert url("webhook_delivery_replay", bot, failed.pk) in page


def test_a_delivery_of_a_message_without_words_is_named_by_its_type_in_words(
    operator_client, bot, endpoint, group, make_message
):
    image = make_message(
        group, text="", msgtype="image", body={"msgtype": "image", "image": {"cdn": "x"}}
    )
    WebhookDelivery.objects.create(message=image, endpoint=endpoint, status="delivered")

    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()

    assert f'#m{image.pk}">图片</a>' in page


def test_an_operator_who_is_not_a_bot_admin_only_looks(reader, bot, endpoint, failed, receiver):
    page = reader.get(url("webhook", bot, endpoint.pk)).content.decode()
    assert "订单 42 的问题" in page
    assert "发送测试事件" not in page and url("webhook_add", bot) not in page

    posts = [
        reader.post(url("webhook_add", bot), {"url": "http://127.0.0.1:1/x"}),
        reader.post(url("webhook_test", bot, endpoint.pk)),
        reader.post(url("webhook_change", bot, endpoint.pk), {"url": "http://127.0.0.1:1/"}),
        reader.post(url("webhook_delivery_replay", bot, failed.pk)),
        reader.post(
            url("webhook_replay_failed", bot, endpoint.pk),
            {"start": "2000-01-01T00:00", "end": "2100-01-01T00:00"},
        ),
    ]

    assert [response.status_code for response in posts] == [403] * 5
    assert receiver.requests == [] and WebhookEndpoint.objects.count() == 1
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_another_bots_endpoints_are_not_found(operator_client, other_bot, receiver):
    theirs = WebhookEndpoint.objects.create(bot=other_bot, url=receiver.url("/theirs"))
    assert operator_client.get(url("webhooks", other_bot)).status_code == 404
    assert operator_client.get(url("webhook", other_bot, theirs.pk)).status_code == 404
    assert operator_client.post(url("webhook_test", other_bot, theirs.pk)).status_code == 404
    assert receiver.requests == []


def test_a_bot_admin_adds_an_endpoint_with_a_msgtype_filter(operator_client, operator, bot):
    response = operator_client.post(
        url("webhook_add", bot),
        {
            "url": "https://hooks.example.com/in",
            "msgtype_choice": ["text", "image"],
            "other_msgtypes": "voice, file",
            "description": "客服系统",
        },
    )

    endpoint = WebhookEndpoint.objects.get(bot=bot)
    assert response["Location"] == url("webhook", bot, endpoint.pk)
    assert endpoint.msgtypes == ["text", "image", "voice", "file"] and not endpoint.is_primary
    action = OperatorAction.objects.get(action="endpoint.create")
    assert action.actor == operator and action.bot == bot


def test_an_invalid_endpoint_is_refused_with_the_reason(operator_client, bot):
    response = operator_client.post(
        url("webhook_add", bot), {"url": "not a url", "other_msgtypes": "a b;c"}
    )
    assert response.status_code == 400 and not WebhookEndpoint.objects.exists()
    html = response.content.decode()
    assert "输入一个有效的 URL" in html and "消息类型是 voice、file 这样的代码" in html


@pytest.mark.parametrize("typed", ["voice, 图片 ,,", "Voice", "vo-ice", "ｖｏｉｃｅ", "voice²"])
def test_other_msgtypes_take_only_lower_case_codes(operator_client, bot, typed):
    response = operator_client.post(
        url("webhook_add", bot), {"url": "https://hooks.example.com/in", "other_msgtypes": typed}
    )

    assert response.status_code == 400 and not WebhookEndpoint.objects.exists()
    assert "只能包含小写字母、数字和 _" in response.content.decode()


def test_an_unknown_msgtype_is_kept_with_a_warning_and_shown_as_its_code(operator_client, bot):
    response = operator_client.post(
        url("webhook_add", bot),
        {"url": "https://hooks.example.com/in", "other_msgtypes": "voice, voise"},
        follow=True,
    )

    endpoint = WebhookEndpoint.objects.get(bot=bot)
    assert endpoint.msgtypes == ["voice", "voise"]
    html = response.content.decode()
    assert "没有任何 botadmin 已知的消息的类型是 voise" in html
    assert '<span class="badge" title="voice">语音</span>' in html
    assert re.search(r'<code class="msgtype-unknown"[^>]*>voise</code>', html)
    listed = operator_client.get(url("webhooks", bot)).content.decode()
    assert re.search(r'<code class="msgtype-unknown"[^>]*>voise</code>', listed)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "169.254.169.254"])
def test_a_private_endpoint_is_refused_when_added_and_the_form_says_why(
    operator_client, bot, settings, address
):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    form = operator_client.get(url("webhooks", bot)).content.decode()
    assert "BOTADMIN_WEBHOOK_NETWORKS" in form  # explained before anyone tries

    response = operator_client.post(url("webhook_add", bot), {"url": f"http://{address}/hook"})

    assert response.status_code == 400 and not WebhookEndpoint.objects.exists()
    assert "不允许此 URL" in response.content.decode()


def test_an_endpoint_in_the_webhook_networks_is_added_and_another_private_one_refused(
    operator_client, bot, settings
):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_WEBHOOK_NETWORKS = ["10.0.5.0/24"]

    added = operator_client.post(url("webhook_add", bot), {"url": "http://10.0.5.7:8080/in"})
    refused = operator_client.post(url("webhook_add", bot), {"url": "http://10.0.6.7:8080/in"})

    assert added.status_code == 302
    assert list(WebhookEndpoint.objects.values_list("url", flat=True)) == [
        "http://10.0.5.7:8080/in"
    ]
    assert refused.status_code == 400
    assert "BOTADMIN_WEBHOOK_NETWORKS" in refused.content.decode()


def test_an_endpoint_whose_host_resolves_too_slowly_is_not_added_and_the_form_says_try_again(
    operator_client, bot, hung_resolver
):
    response = operator_client.post(
        url("webhook_add", bot), {"url": "https://hooks.hung.example/in"}
    )

    assert response.status_code == 400 and not WebhookEndpoint.objects.exists()
    html = response.content.decode()
    assert "现在无法检查此 URL：无法在 0.2 秒内解析 hooks.hung.example。请稍后再试。" in html


def test_a_test_event_is_signed_audited_and_its_answer_shown(
    operator_client, operator, bot, endpoint, receiver
):
    receiver.respond(202, b'{"received": true}')

    page = operator_client.post(url("webhook_test", bot, endpoint.pk), follow=True)
    page = page.content.decode()

    (request,) = receiver.requests
    payload = Webhook(endpoint.signing_secret).verify(request.body, request.headers)
    assert payload["text"]["content"] == "botadmin test event"
    assert "端点已响应测试事件" in page and "HTTP 202" in page
    assert not WebhookDelivery.objects.exists()
    assert OperatorAction.objects.get(action="endpoint.test").actor == operator


def test_a_test_event_redirects_to_the_endpoint_page_and_a_reload_sends_nothing(
    operator_client, bot, endpoint, receiver
):
    receiver.respond(500, b"receiver down")

    response = operator_client.post(url("webhook_test", bot, endpoint.pk))

    assert response.status_code == 302
    assert response["Location"] == url("webhook", bot, endpoint.pk) + "#actions"
    shown = operator_client.get(response["Location"]).content.decode()
    assert "测试事件失败" in shown and "HTTP 500" in shown and "receiver down" in shown
    reloaded = operator_client.get(response["Location"]).content.decode()
    assert "测试事件失败" not in reloaded  # shown once, like a message
    assert len(receiver.requests) == 1
    assert OperatorAction.objects.filter(action="endpoint.test").count() == 1


def test_the_operator_actions_say_a_test_events_outcome_and_when_it_will_never_come(
    operator_client, operator, bot, endpoint, receiver
):
    """A test event is recorded "sending" before it is sent: one whose process stopped
    during the send keeps that, and past the time its answer was due it is shown as
    unknown, not as still sending."""
    receiver.respond(202, b"ok")
    operator_client.post(url("webhook_test", bot, endpoint.pk))
    answered = OperatorAction.objects.get(action="endpoint.test")
    stopped = record_action(operator, "endpoint.test", bot=bot, target=endpoint, summary="sending")
    long_ago = timezone.now() - TEST_EVENT_OUTCOME_DUE - timedelta(seconds=1)
    OperatorAction.objects.filter(pk=stopped.pk).update(created_at=long_ago)
    record_action(operator, "endpoint.test", bot=bot, target=endpoint, summary="sending")

    html = operator_client.get(reverse("console:operator_actions")).content.decode()

    assert answered.summary == "success 202" and "成功 · HTTP 202" in html
    assert html.count("结果未知（发送时进程已停止）") == 1
    assert html.count("发送中，尚无应答") == 1


def test_changing_an_endpoint_keeps_the_primary_url_and_is_audited(operator_client, bot, make_bot):
    bot.webhook_url = "https://hooks.example.com/primary"
    bot.save()
    from forwarding.endpoints import sync_primary_endpoint

    primary = sync_primary_endpoint(bot)

    operator_client.post(
        url("webhook_change", bot, primary.pk),
        {"url": "http://127.0.0.1:1/", "msgtype_choice": ["image"], "description": "主"},
    )

    primary.refresh_from_db()
    assert primary.url == "https://hooks.example.com/primary"
    assert primary.msgtypes == ["image"] and not primary.is_active  # unticked: switched off
    assert OperatorAction.objects.filter(action="endpoint.update").count() == 1


def test_replay_one_and_all_failed_of_a_period(operator_client, bot, endpoint, failed):
    operator_client.post(url("webhook_delivery_replay", bot, failed.pk))
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.replay_count == 1

    WebhookDelivery.objects.update(status="failed")
    outside = {"start": "2000-01-01T00:00", "end": "2000-01-02T00:00"}
    operator_client.post(url("webhook_replay_failed", bot, endpoint.pk), outside)
    failed.refresh_from_db()
    assert failed.status == "failed"

    period = {"start": "2000-01-01T00:00", "end": "2100-01-01T00:00"}
    response = operator_client.post(url("webhook_replay_failed", bot, endpoint.pk), period)
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.replay_count == 2
    assert (
        "已将 1 条失败的投递重新排队" in operator_client.get(response["Location"]).content.decode()
    )


def test_the_dashboard_links_each_bot_to_its_webhooks(operator_client, bot, endpoint):
    html = operator_client.get(reverse("console:dashboard")).content.decode()
    assert url("webhooks", bot) in html


def test_the_bot_page_lists_the_endpoints_and_links_to_their_page(operator_client, bot, endpoint):
    html = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    assert endpoint.url in html and url("webhook", bot, endpoint.pk) in html
    assert url("webhooks", bot) in html


def test_a_bot_admin_deletes_an_endpoint_without_deliveries_and_it_is_audited(
    operator_client, operator, bot, endpoint
):
    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()
    assert url("webhook_delete", bot, endpoint.pk) in page
    assert 'data-confirm="删除此端点？' in page  # asked once more in the browser (confirm.js)
    assert operator_client.get(url("webhook_delete", bot, endpoint.pk)).status_code == 405

    response = operator_client.post(url("webhook_delete", bot, endpoint.pk))

    assert response["Location"] == url("webhooks", bot)
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    listing = operator_client.get(response["Location"]).content.decode()
    assert f"端点 {endpoint.url} 已删除" in listing
    action = OperatorAction.objects.get(action="endpoint.delete")
    assert action.actor == operator and action.bot == bot
    assert action.details["url"] == endpoint.url
    actions = operator_client.get(reverse("console:operator_actions")).content.decode()
    assert "删除了 Webhook 端点" in actions and endpoint.url in actions


def test_an_endpoint_with_a_delivery_history_is_kept_and_the_page_says_why(
    operator_client, bot, endpoint, failed
):
    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()
    assert url("webhook_delete", bot, endpoint.pk) not in page
    assert "此端点有投递历史" in page

    response = operator_client.post(url("webhook_delete", bot, endpoint.pk))

    assert response["Location"] == url("webhook", bot, endpoint.pk)
    assert WebhookDelivery.objects.filter(pk=failed.pk).exists()
    assert WebhookAttempt.objects.filter(delivery=failed).exists()
    shown = operator_client.get(response["Location"]).content.decode()
    assert "此端点有投递历史" in shown
    # It names the checkbox by the label the settings form beside it shows.
    label = re.search(r'<label for="id_is_active">([^<:：]+)', shown).group(1)
    assert f"取消勾选“{label}”" in shown
    assert not OperatorAction.objects.filter(action="endpoint.delete").exists()


def test_the_primary_endpoint_is_not_deleted_it_is_the_bots_webhook_url(operator_client, bot):
    from forwarding.endpoints import sync_primary_endpoint

    bot.webhook_url = "https://hooks.example.com/primary"
    bot.save()
    primary = sync_primary_endpoint(bot)

    response = operator_client.post(url("webhook_delete", bot, primary.pk))

    assert WebhookEndpoint.objects.filter(pk=primary.pk).exists()
    assert "机器人页面" in operator_client.get(response["Location"]).content.decode()


def test_an_operator_who_is_not_a_bot_admin_cannot_delete_an_endpoint(reader, bot, endpoint):
    assert reader.post(url("webhook_delete", bot, endpoint.pk)).status_code == 403
    page = reader.get(url("webhook", bot, endpoint.pk)).content.decode()
    assert url("webhook_delete", bot, endpoint.pk) not in page
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_another_bots_endpoint_is_not_found_for_deleting(operator_client, bot, other_bot, receiver):
    theirs = WebhookEndpoint.objects.create(bot=other_bot, url=receiver.url("/theirs"))
    assert operator_client.post(url("webhook_delete", other_bot, theirs.pk)).status_code == 404
    assert operator_client.post(url("webhook_delete", bot, theirs.pk)).status_code == 404
    huge = f"/console/bots/{bot.pk}/webhooks/99999999999999999999/delete"
    assert operator_client.post(huge).status_code == 404
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_health_under_a_minute_says_less_than_a_minute_in_both_languages(
    operator_client, bot, receiver
):
    """A success seconds ago read "自 0 分钟 前起", then the stiff "自不到一分钟前起". A
    failing endpoint says since when at a clock time (tests/console/test_endpoint_health.py)."""
    now = timezone.now()
    failing = WebhookEndpoint.objects.create(
        bot=bot,
        url=receiver.url("/failing"),
        failure_streak=1,
        failing_since=now - timedelta(seconds=20),
    )
    healthy = WebhookEndpoint.objects.create(
        bot=bot, url=receiver.url("/healthy"), last_success_at=now - timedelta(seconds=5)
    )
    older = WebhookEndpoint.objects.create(
        bot=bot,
        url=receiver.url("/older"),
        failure_streak=3,
        failing_since=now - timedelta(minutes=5, seconds=10),
    )

    def health(html: str, endpoint) -> str:
        row = html.split(endpoint.url)[1].split("</tr>")[0]
        return " ".join(re.sub(r"<[^>]+>", " ", row).split())

    def since(endpoint, language: str) -> str:
        with translation.override(language):
            return clock_time(endpoint.failing_since)

    chinese = operator_client.get(url("webhooks", bot)).content.decode()
    operator_client.cookies["django_language"] = "en"
    english = operator_client.get(url("webhooks", bot)).content.decode()

    assert "0 分钟" not in chinese and "0 minutes" not in english
    assert f"自 {since(failing, 'zh-hans')} 起连续失败 1 次" in health(chinese, failing)
    assert f"since {since(failing, 'en')}: 1 failure in a row" in health(english, failing)
    assert "上次成功于不到一分钟前" in health(chinese, healthy)
    assert "last success less than a minute ago" in health(english, healthy)
    assert f"自 {since(older, 'zh-hans')} 起连续失败 3 次" in health(chinese, older)
    assert f"since {since(older, 'en')}: 3 failures in a row" in health(english, older)


def test_the_settings_form_labels_have_no_colon_in_either_language(operator_client, bot, endpoint):
    """Django's default suffix read "URL:" and "说明:" (half-width) in Chinese."""

    def labels(html: str) -> list[str]:
        settings = html.split('id="settings"')[1]
        return re.findall(r"<label[^>]*>([^<]+)</label>", settings)

    chinese = labels(operator_client.get(url("webhook", bot, endpoint.pk)).content.decode())
    operator_client.cookies["django_language"] = "en"
    english = labels(operator_client.get(url("webhook", bot, endpoint.pk)).content.decode())

    assert "说明" in chinese and "Description" in english
    assert [label for label in chinese + english if label.rstrip().endswith((":", "："))] == []


def test_an_operator_who_is_no_bot_admin_sees_endpoint_urls_with_credentials_masked(
    reader, bot, group, make_message
):
    """A password or key in an endpoint's URL is a secret like the bot's own: operators
    who may not reveal those see every endpoint URL masked, on every page showing one."""
    endpoint = WebhookEndpoint.objects.create(
        bot=bot,
        url="https://hook:EP-password@recv.example/in?key=EP-key&team=7&code=EP-fnkey&sig=EP-sas",
    )
    message = make_message(group, text="转发的消息")
    WebhookDelivery.objects.create(message=message, endpoint=endpoint, status="delivered")
    trace = reverse("console:message_trace", args=[bot.pk, group.pk, message.pk])

    pages = [
        url("webhooks", bot),
        url("webhook", bot, endpoint.pk),
        reverse("console:bot", args=[bot.pk]),
        reverse("console:dashboard") + f"?bot={bot.pk}",
        trace,
    ]
    for address in pages:
        html = reader.get(address).content.decode()
        assert not {"EP-password", "EP-key", "EP-fnkey", "EP-sas"} & set(
            re.findall(r"EP-[a-z]+", html)
        ), address
        assert "https://********@recv.example/in" in html, address


PATH_TOKEN = "q3v8fJ2k" + "Lm9PzX7wR4tY"  # a receiver's credential in its URL's path


def test_a_token_in_an_endpoints_path_is_masked_on_every_page_and_in_the_audit_log(
    operator_client, operator, make_operator, bot, group, make_message
):
    """Slack's, Discord's, Feishu's webhook URLs hold their credential in the path: pages
    show the host and the first segments, so the endpoint is still told apart."""
    added = operator_client.post(
        url("webhook_add", bot), {"url": f"https://hooks.example.com/hooks/{PATH_TOKEN}"}
    )
    assert added.status_code == 302
    # Another endpoint without a description on the same host: the dashboard names both
    # by host and path.
    WebhookEndpoint.objects.create(
        bot=bot, url="https://hooks.example.com/hooks/Other0Token42xyzAB"
    )
    endpoint = WebhookEndpoint.objects.get(url__contains=PATH_TOKEN)
    message = make_message(group, text="转发的消息")
    WebhookDelivery.objects.create(message=message, endpoint=endpoint, status="delivered")
    pages = [
        url("webhooks", bot),
        url("webhook", bot, endpoint.pk),
        reverse("console:bot", args=[bot.pk]),
        reverse("console:dashboard") + f"?bot={bot.pk}",
        reverse("console:message_trace", args=[bot.pk, group.pk, message.pk]),
        reverse("console:operator_actions") + f"?bot={bot.pk}",
    ]
    reader = make_operator("reader", bot)
    reader.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    for user in (reader, operator):  # who only looks, and the bot admin
        operator_client.force_login(user)
        for address in pages:
            html = operator_client.get(address).content.decode()
            assert PATH_TOKEN not in html and "Other0Token42xyzAB" not in html, address
            assert "hooks.example.com/hooks/" in html, address
    form = submitted_form(operator_client.get(pages[1]).content.decode(), "endpoint-form")
    assert form["url"] == ["https://hooks.example.com/hooks/********"]
    assert OperatorAction.objects.get(action="endpoint.create").summary == (
        "Added https://hooks.example.com/hooks/********"
    )

    saved = operator_client.post(
        url("webhook_change", bot, endpoint.pk), {**form, "description": "Slack"}
    )

    assert saved.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == f"https://hooks.example.com/hooks/{PATH_TOKEN}"


def test_a_bot_admin_saving_an_endpoint_with_its_masked_url_keeps_the_stored_url(
    operator_client, bot
):
    stored = "https://hook:EP-password@recv.example/in?key=EP-key"
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=stored, description="客服")
    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()
    form = submitted_form(page, "endpoint-form")
    assert "EP-password" not in page and "EP-key" not in page
    assert form["url"] == ["https://********@recv.example/in?key=********"]

    response = operator_client.post(
        url("webhook_change", bot, endpoint.pk), {**form, "description": "客服系统"}
    )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == stored and endpoint.description == "客服系统"
    action = OperatorAction.objects.get(action="endpoint.update")
    assert action.summary.startswith("Changed description of https://********@")


def test_an_endpoint_url_edited_around_its_masked_password_is_refused(operator_client, bot):
    """Sending the stored password to an address typed without knowing it: no."""
    stored = "https://hook:EP-password@recv.example/in"
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=stored)
    operator_client.cookies["django_language"] = "en"

    response = operator_client.post(
        url("webhook_change", bot, endpoint.pk),
        {"url": "https://********@elsewhere.example/in", "is_active": "on"},
    )

    assert response.status_code == 400
    assert "still shows ******** in place of a password or key" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.url == stored


def test_with_no_failed_delivery_there_is_nothing_to_replay(operator_client, bot, endpoint):
    """It offered "重放失败的投递" beside "共 0 条失败的投递", and then said
    "0 条失败的投递已重新排队。"."""
    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()

    assert "没有失败的投递，无需重放。" in page
    assert url("webhook_replay_failed", bot, endpoint.pk) not in page

    period = {"start": "2000-01-01T00:00", "end": "2100-01-01T00:00"}
    response = operator_client.post(url("webhook_replay_failed", bot, endpoint.pk), period)
    shown = operator_client.get(response["Location"]).content.decode()
    assert "这段时间内没有收到失败的投递：没有重放任何投递。" in shown
    assert "0 条失败的投递" not in shown
    assert not OperatorAction.objects.filter(action="delivery.replay_many").exists()


def test_a_failing_endpoints_page_says_how_many_deliveries_wait_to_retry_and_when(
    operator_client, bot, endpoint, group, make_message
):
    """The header said "失败中：连续失败 10192 次" while "检查与恢复" said "没有失败的投递，
    无需重放。": its deliveries were pending, waiting for their next attempt."""
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failure_streak=10192, failing_since=now - timedelta(minutes=8), last_failure_at=now
    )
    for minutes in (7, 3):
        WebhookDelivery.objects.create(
            message=make_message(group, text=f"{minutes} 分钟后重试"),
            endpoint=endpoint,
            status="pending",
            attempt_count=2,
            next_attempt_at=now + timedelta(minutes=minutes),
        )
    WebhookDelivery.objects.create(  # not tried yet: not waiting to *retry*
        message=make_message(group, text="刚收到"), endpoint=endpoint, status="pending"
    )
    next_at = clock_time(now + timedelta(minutes=3))  # with its seconds, within the hour

    def recovery_section() -> str:
        page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()
        section = page.split('id="actions"')[1].split("</section>")[0]
        return " ".join(re.sub(r"<[^>]+>", " ", section).split())

    assert f"2 条投递等待重试（下次 {next_at}）" in recovery_section()
    assert "无需重放" not in recovery_section()

    WebhookDelivery.objects.filter(endpoint=endpoint).update(status="delivered")
    assert "等待重试" not in recovery_section()
    assert "无需重放" not in recovery_section()  # still failing: its test events, say

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failure_streak=0, failing_since=None)
    assert "没有失败的投递，无需重放。" in recovery_section()


def test_deliveries_of_a_disabled_endpoint_wait_for_it_to_be_re_enabled(
    operator_client, bot, endpoint, group, make_message
):
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failure_streak=40, failing_since=now - timedelta(days=3), disabled_at=now
    )
    WebhookDelivery.objects.create(
        message=make_message(group, text="等着"),
        endpoint=endpoint,
        status="pending",
        attempt_count=7,
        next_attempt_at=now - timedelta(hours=1),
    )

    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()

    assert "1 条投递等待端点重新启用后重试。" in page
    assert "下次" not in page.split('id="actions"')[1].split("</section>")[0]


def test_the_replay_question_says_how_many_deliveries_failed(
    operator_client, bot, endpoint, failed
):
    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()

    form = page.split('class="replay-period"')[1].split(">")[0]
    assert 'data-confirm="重新发送这段时间内收到的失败投递？共有 1 条失败的投递。"' in form


def test_a_test_event_nobody_answers_says_why_in_chinese_with_the_exception_disclosed(
    operator_client, bot
):
    with Receiver() as gone:
        port = gone.port
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=f"http://127.0.0.1:{port}/hook")

    page = operator_client.post(url("webhook_test", bot, endpoint.pk), follow=True)

    html = page.content.decode()
    assert "测试事件失败" in html and "端点没有应答：127.0.0.1 拒绝了连接" in html
    assert "no answer from the endpoint" not in html
    details = re.search(r"<details[^>]*>\s*<summary>技术详情</summary>(.*?)</details>", html, re.S)
    assert details and "Connection refused" in details.group(1)


def test_a_test_event_nobody_answers_keeps_the_token_in_the_endpoints_path_out_of_the_page(
    operator_client, bot
):
    with Receiver() as gone:
        port = gone.port
    address = f"http://127.0.0.1:{port}/hooks/{PATH_TOKEN}"
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=address)

    page = operator_client.post(url("webhook_test", bot, endpoint.pk), follow=True)

    html = page.content.decode()
    details = re.search(r"<details[^>]*>\s*<summary>技术详情</summary>(.*?)</details>", html, re.S)
    assert details and "with url: /hooks/********" in details.group(1)
    assert "127.0.0.1" in details.group(1) and PATH_TOKEN not in html


def test_a_test_event_answered_with_an_error_status_says_what_it_means(
    operator_client, bot, endpoint, receiver
):
    receiver.respond(404, b"no route")

    page = operator_client.post(url("webhook_test", bot, endpoint.pk), follow=True)

    html = page.content.decode()
    assert "没有这个路径，请检查 URL" in html and "no route" in html


def test_a_bot_admin_stops_sending_the_api_secret_to_an_endpoint_and_it_is_audited(
    operator_client, operator, bot, endpoint, receiver
):
    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()
    form = submitted_form(page, "endpoint-form")
    assert form["sends_api_secret"] == ["on"]  # ticked: what every endpoint did before
    assert "发送 API 密钥" in page and "webhook-signature" in page
    del form["sends_api_secret"]

    response = operator_client.post(url("webhook_change", bot, endpoint.pk), form)

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.sends_api_secret and endpoint.url == receiver.url("/hook")
    action = OperatorAction.objects.get(action="endpoint.update")
    assert action.actor == operator and action.details == {"sends_api_secret": False}
    operator_client.post(url("webhook_test", bot, endpoint.pk))
    (request,) = receiver.requests
    assert Webhook(endpoint.signing_secret).verify(request.body, request.headers)["secret"] == "-"


def test_a_new_endpoint_is_sent_the_api_secret_unless_the_box_is_unticked(operator_client, bot):
    page = operator_client.get(url("webhooks", bot)).content.decode()
    operator_client.cookies["django_language"] = "en"
    english = operator_client.get(url("webhooks", bot)).content.decode()
    added = submitted_form(page, "add-endpoint-form")
    assert added["sends_api_secret"] == ["on"]
    assert "Send the API secret" in english and '"secret" is "-"' in english

    operator_client.post(url("webhook_add", bot), {**added, "url": "https://a.example.com/in"})
    withheld = {k: v for k, v in added.items() if k != "sends_api_secret"}
    operator_client.post(url("webhook_add", bot), {**withheld, "url": "https://b.example.com/in"})

    sent = dict(WebhookEndpoint.objects.values_list("url", "sends_api_secret"))
    assert sent == {"https://a.example.com/in": True, "https://b.example.com/in": False}


def test_an_endpoint_added_twice_is_added_once_and_the_second_click_opens_it(operator_client, bot):
    form = {"url": "https://hooks.example.com/in", "msgtype_choice": ["text"]}
    first = operator_client.post(url("webhook_add", bot), form)
    second = operator_client.post(url("webhook_add", bot), {**form, "msgtype_choice": ["image"]})

    endpoint = WebhookEndpoint.objects.get(bot=bot)
    assert endpoint.msgtypes == ["text"]
    assert first["Location"] == second["Location"] == url("webhook", bot, endpoint.pk)
    page = operator_client.get(second["Location"]).content.decode()
    assert "机器人已经转发到这个 URL，没有添加任何端点" in page
    assert OperatorAction.objects.filter(action="endpoint.create").count() == 1


def test_a_group_robot_bots_pages_say_its_webhooks_get_nothing(operator_client, bot, operator):
    """A group robot only posts: an operator setting up its webhooks is told they would
    receive nothing, on the bot page and on its webhooks page; a bridge bot says nothing."""
    bridge_pages = [url("bot", bot), url("webhooks", bot)]
    robot = type(bot).objects.create(name="alerts", connector="wecom_robot")
    robot.operators.add(operator)

    for page in [url("bot", robot), url("webhooks", robot)]:
        html = operator_client.get(page).content.decode()
        assert 'id="receives-nothing"' in html
        assert "“企业微信群机器人”类型的机器人不接收消息" in html
        assert "收到的消息保存在历史中" not in html
    for page in bridge_pages:
        html = operator_client.get(page).content.decode()
        assert 'id="receives-nothing"' not in html and "收到的消息保存在历史中" in html


def test_an_endpoint_is_not_changed_to_a_url_another_endpoint_of_the_bot_has(operator_client, bot):
    WebhookEndpoint.objects.create(bot=bot, url="https://a.example.com/in")
    other = WebhookEndpoint.objects.create(bot=bot, url="https://b.example.com/in")
    page = operator_client.get(url("webhook", bot, other.pk)).content.decode()
    form = submitted_form(page, "endpoint-form")

    response = operator_client.post(
        url("webhook_change", bot, other.pk),
        {**form, "url": "https://a.example.com/in", "description": "CRM"},
    )

    assert response.status_code == 400
    assert "这个机器人的另一个端点已经转发到这个 URL" in response.content.decode()
    other.refresh_from_db()
    assert (other.url, other.description) == ("https://b.example.com/in", "")
    assert not OperatorAction.objects.filter(action="endpoint.update").exists()


def test_endpoints_that_shared_a_url_before_the_rule_are_marked_on_the_list(operator_client, bot):
    for _ in range(2):
        WebhookEndpoint.objects.create(bot=bot, url="https://a.example.com/in")
    WebhookEndpoint.objects.create(bot=bot, url="https://b.example.com/in")

    page = operator_client.get(url("webhooks", bot)).content.decode()

    assert page.count("与另一个端点的 URL 相同：每条消息都会收到两次") == 2


def test_another_spelling_of_an_endpoints_url_opens_it_and_a_trailing_slash_is_warned_of(
    operator_client, bot
):
    """Scheme and host case and the default port make no other URL: the second click
    opens the endpoint. A trailing slash does (a server may tell them apart): added, with
    a warning naming the endpoint without it, and when an endpoint is changed to it."""
    warning = "这个机器人的另一个端点转发到 %s，与这个 URL 只差末尾的斜杠"

    def page_after(form, *args, action="webhook_add"):
        answer = operator_client.post(url(action, bot, *args), form)
        assert answer.status_code == 302
        return answer["Location"], operator_client.get(answer["Location"]).content.decode()

    first, _ = page_after({"url": "https://hooks.example.com/in"})
    again, again_page = page_after({"url": "HTTPS://Hooks.Example.com:443/in"})
    _, slashed_page = page_after({"url": "https://hooks.example.com/in/"})
    other = WebhookEndpoint.objects.create(bot=bot, url="https://elsewhere.example.com/in")
    form = submitted_form(
        operator_client.get(url("webhook", bot, other.pk)).content.decode(), "endpoint-form"
    )
    _, changed_page = page_after(
        {**form, "url": "https://hooks.example.com/in//"}, other.pk, action="webhook_change"
    )

    assert again == first and "机器人已经转发到这个 URL" in again_page
    assert warning % "https://hooks.example.com/in" in slashed_page
    assert warning % "https://hooks.example.com/in/" in changed_page
    assert sorted(WebhookEndpoint.objects.filter(bot=bot).values_list("url", flat=True)) == [
        "https://hooks.example.com/in",
        "https://hooks.example.com/in/",
        "https://hooks.example.com/in//",
    ]


def test_endpoints_whose_urls_differ_only_in_the_case_of_the_host_are_marked_as_sharing_one(
    operator_client, bot
):
    """Saved before URLs were normalised: one receiver, each message twice."""
    WebhookEndpoint.objects.create(bot=bot, url="https://a.example.com/in")
    WebhookEndpoint.objects.create(bot=bot, url="HTTPS://A.Example.com:443/in")

    page = operator_client.get(url("webhooks", bot)).content.decode()

    assert page.count("与另一个端点的 URL 相同：每条消息都会收到两次") == 2


def test_an_attempt_row_says_the_day_of_an_attempt_days_ago_and_the_next_as_the_console_does(
    operator_client, bot, endpoint, group, make_message
):
    """An attempt row said only "#1 08:30:05", whatever day it was; the next attempt said
    "12-07 08:30:05" where the rest of the console says "08:30:05" (clock_time)."""
    now = timezone.now()
    long_ago = now - timedelta(days=3, minutes=1)
    delivery = WebhookDelivery.objects.create(
        message=make_message(group, text="三天前"),
        endpoint=endpoint,
        status="pending",
        attempt_count=1,
        next_attempt_at=now + timedelta(minutes=3, seconds=7),
    )
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, url=endpoint.url, started_at=long_ago, outcome="failure"
    )

    page = operator_client.get(url("webhook", bot, endpoint.pk)).content.decode()

    assert f">{clock_time(long_ago)}</time>" in page
    assert timezone.localtime(long_ago).strftime("%m-%d %H:%M") in clock_time(long_ago)
    assert f">{clock_time(delivery.next_attempt_at)}</time>" in page


def test_a_stale_endpoint_page_saves_only_what_it_changed(operator_client, bot, endpoint):
    """Two tabs on one endpoint: the second one's save undid the first one's new URL,
    description and message types with the values it still showed."""
    page = url("webhook", bot, endpoint.pk)
    first = submitted_form(operator_client.get(page).content.decode(), "endpoint-form")
    second = submitted_form(operator_client.get(page).content.decode(), "endpoint-form")
    first_saved = operator_client.post(
        url("webhook_change", bot, endpoint.pk),
        {**first, "url": "http://127.0.0.1:1/new", "msgtype_choice": ["text", "image"]},
    )

    response = operator_client.post(
        url("webhook_change", bot, endpoint.pk),
        {**second, "description": "客服系统", "other_msgtypes": "voice_note"},
    )

    assert first_saved.status_code == response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:1/new" and endpoint.description == "客服系统"
    assert endpoint.msgtypes == ["text", "image", "voice_note"]


def test_a_stale_endpoint_page_keeps_a_masked_url_changed_since(operator_client, bot):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://a:old-pw@recv.example/in")
    page = url("webhook", bot, endpoint.pk)
    stale = submitted_form(operator_client.get(page).content.decode(), "endpoint-form")
    endpoint.url = "https://a:new-pw@recv2.example/in"  # by another operator
    endpoint.save(update_fields=["url"])

    html = operator_client.get(page).content.decode()
    response = operator_client.post(
        url("webhook_change", bot, endpoint.pk), {**stale, "description": "客服"}
    )

    assert "new-pw" not in html
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://a:new-pw@recv2.example/in" and endpoint.description == "客服"
