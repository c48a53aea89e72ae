import io
import json
import logging
import os
import subprocess
import sys

import pytest

from botadmin.logging import (
    MASK,
    MaskSecretsFilter,
    bind,
    clear_context,
    mask_secrets,
    path_secrets,
    use_format,
)
from botadmin.sentry import scrub_event


def test_query_string_secrets_are_masked():
    line = "POST /api/send?secret=abcDEF123_-xyz&conversation_id=wr1 HTTP/1.1"
    assert mask_secrets(line) == "POST /api/send?secret=********&conversation_id=wr1 HTTP/1.1"


def test_json_secrets_and_bearer_tokens_are_masked():
    assert "s3cr3t" not in mask_secrets('{"secret": "s3cr3t", "msgtype": "text"}')
    assert "tok123" not in mask_secrets("Authorization: Bearer tok123")
    assert "k-e-y" not in mask_secrets("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-e-y")


@pytest.mark.parametrize(
    "line, secret",
    [
        ("GET /bridge?agent_token=tok-1&x=1", "tok-1"),
        ("signing_secret=whsec_abc", "whsec_abc"),
        ("gettoken?corpid=ww1&corpsecret=cs-9", "cs-9"),
        ('{"encoding_aes_key": "aes-7", "token": "t-8"}', "aes-7"),
        ('{"encoding_aes_key": "aes-7", "token": "t-8"}', "t-8"),
        ("KeyError: {'secret': 'py-dict-5', 'name': 'x'}", "py-dict-5"),
        ("login failed: {'password': 'hunter2'}", "hunter2"),
        ("POST https://ops:pa55@hooks.example/in failed", "pa55"),
    ],
)
def test_secrets_under_longer_names_and_in_a_python_dict_are_masked(line, secret):
    masked = mask_secrets(line)

    assert secret not in masked
    assert MASK in masked


@pytest.mark.parametrize(
    "message, logged",
    [
        (
            "POST https://TOKEN-1@hooks.example/in failed",
            "POST https://********@hooks.example/in failed",
        ),
        (
            "cloning 'https://ci:PASS-2@git.example/r.git' and https://TOKEN-3:x@git.example/",
            "cloning 'https://********@git.example/r.git' and https://********@git.example/",
        ),
        ("agent http://10.0.0.5:7600/send?next=a@b down", "agent http://10.0.0.5:7600/send?next=a@b down"),
    ],
)  # fmt: skip
def test_a_urls_whole_user_part_is_masked_in_log_lines(message, logged):
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "%s", (message,), None)
    MaskSecretsFilter().filter(record)
    assert record.getMessage() == logged


def test_names_that_are_not_secret_stay_readable():
    line = '{"msgtype": "text", "conversation_id": "wr1"} ?page=2&q=key'
    assert mask_secrets(line) == line


def test_the_logging_filter_masks_formatted_arguments():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "GET %s", ("/api/users?secret=zzz",), None
    )
    MaskSecretsFilter().filter(record)
    assert record.getMessage() == "GET /api/users?secret=********"


def test_url_encoded_secrets_inside_another_url_are_masked():
    line = "GET /admin/login/?next=/api/send%3Fsecret%3DabcDEF123_-xyz%26conversation_id%3Dwr1 HTTP/1.1"
    assert "abcDEF123" not in mask_secrets(line)
    assert "secret%3D********%26conversation_id%3Dwr1" in mask_secrets(line)


def test_sql_statements_are_not_logged_even_at_debug_unless_asked(settings, bot, caplog):
    """Their parameters carry secrets that no masking recognises (a secret lookup, say)."""
    import logging

    from django.db import connection

    from conversations.services import bot_for_secret

    settings.DEBUG = True
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            connection.force_debug_cursor = True
            assert bot_for_secret(bot.secret) == bot
    finally:
        connection.force_debug_cursor = False
        logging.getLogger().setLevel(logging.INFO)
    assert bot.secret not in caplog.text


def test_a_secret_whose_parameter_name_is_percent_encoded_is_masked():
    """Django decodes `secre%74` to `secret`, so the secret works: the log must hide it."""
    for line in [
        "POST /api/send?secre%74=abcDEF123_-xyz&conversation_id=wr1 HTTP/1.1",
        "POST /api/send?conversation_id=wr1&%53%45%43%52%45%54=abcDEF123_-xyz HTTP/1.1",
        "GET /admin/login/?next=/api/send%3Fsecre%2574%3DabcDEF123_-xyz%26a%3Db HTTP/1.1",
    ]:
        masked = mask_secrets(line)
        assert "abcDEF123" not in masked, line
        assert MASK in masked
    # Other encoded parameters keep their values.
    assert mask_secrets("GET /x?na%6De=bob&q=%41b") == "GET /x?na%6De=bob&q=%41b"


@pytest.mark.parametrize(
    "name",
    [
        "secret[]",  # PHP-style, as scripts written for PHP send it
        "secret[0]",
        "secret%5B%5D",
        "secret%5b%5d",
        "SECRET",
        "Secret[]",
        "%73ecret%5B%5D",
        "agent_token[]",
        "corpsecret[x][y]",
        "auth[token]",
    ],
)
def test_a_secret_under_any_spelling_of_its_name_is_masked(name):
    line = f"GET /api/send?conversation_id=x&{name}=abcDEF123_-xyz&msgtype=text HTTP/1.1"

    masked = mask_secrets(line)

    assert masked == line.replace("abcDEF123_-xyz", MASK)


def test_a_php_style_secret_inside_another_url_is_masked():
    line = "GET /admin/login/?next=/api/send%3Fsecret%255B%255D%3DabcDEF123_-xyz%26a%3Db HTTP/1.1"
    assert mask_secrets(line) == line.replace("abcDEF123_-xyz", MASK)


def test_parameters_that_only_look_like_a_secret_keep_their_values():
    for line in [
        "GET /x?keyboard=qwerty&secretary=bob&q=secret[] HTTP/1.1",
        "GET /x?tokens%5B%5D=a&page[2]=x HTTP/1.1",
    ]:
        assert mask_secrets(line) == line


def _json_lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_context_and_mask_secrets_in_query_header_and_body():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    use_format(handler, "json")
    logger = logging.getLogger("tests.json_lines")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        clear_context(request_id="req-1")
        bind(bot="acme", message_id="m-42")
        logger.info("GET /api/send?secret=%s&conversation_id=wr1", "qs-SECRET-1")
        logger.warning("headers %s", {"Authorization": "Bearer hdr-SECRET-2"})
        logger.error("body %s", '{"secret": "body-SECRET-3", "msgtype": "text"}')
        try:
            raise ValueError("boom ?token=exc-SECRET-4")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        clear_context()

    text = stream.getvalue()
    assert "SECRET" not in text
    lines = _json_lines(stream)
    assert [line["level"] for line in lines] == ["INFO", "WARNING", "ERROR", "ERROR"]
    for line in lines:
        assert line["logger"] == "tests.json_lines"
        assert line["request_id"] == "req-1"
        assert line["bot"] == "acme" and line["message_id"] == "m-42"
        assert line["time"].endswith("Z")
    assert lines[0]["message"] == "GET /api/send?secret=********&conversation_id=wr1"
    assert "Traceback" in lines[3]["exc"]


def test_text_lines_mask_secrets_in_a_traceback_and_a_stack(settings):
    """The default format (LOG_FORMAT=text) prints an exception after the message: its
    words (a connector's error naming a URL with its access token) are masked as well."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]))
    use_format(handler, "text")
    logger = logging.getLogger("tests.text_lines")
    logger.addHandler(handler)
    logger.propagate = False
    url = "https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token="
    token = "-".join(["tok", "SECRET"])  # the traceback's source lines do not show it
    try:
        try:
            raise ValueError(f"boom {url}{token}1")
        except ValueError:
            logger.exception("failed")
        logger.warning("here", stack_info=True, extra={"x": "?key=stack-SECRET-2"})
        try:
            raise ConnectionError(f"{url}{token}3")
        except ConnectionError as cause:
            try:
                raise RuntimeError("sending failed") from cause
            except RuntimeError:
                logger.error("send", exc_info=True)
    finally:
        logger.removeHandler(handler)

    text = stream.getvalue()
    assert "SECRET" not in text
    assert text.count("Traceback") == 3
    assert f"ValueError: boom {url}{MASK}" in text


def test_each_request_has_an_id_in_its_answer(client):
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a"})
    assert given.headers["X-Request-ID"] == "lb-7f3a"
    forged = client.get("/healthz", headers={"X-Request-ID": "a\nb"})
    assert forged.headers["X-Request-ID"] != "a\nb"


def test_the_sentry_scrubber_removes_secrets_from_an_event():
    event = {
        "request": {
            "url": "https://botadmin.example.com/api/send",
            "query_string": "secre%74=qs-SECRET&conversation_id=wr1",
            "headers": {"Authorization": "Bearer hdr-SECRET", "User-Agent": "curl"},
            "cookies": {"sessionid": "cookie-SECRET"},
            "data": '{"secret": "body-SECRET", "msgtype": "text"}',
        },
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": "bad ?secret=exc-SECRET",
                    "stacktrace": {"frames": [{"vars": {"secret": "'var-SECRET'", "count": 3}}]},
                }
            ]
        },
        "breadcrumbs": {"values": [{"message": "GET /x?key=crumb-SECRET"}]},
        "extra": {"agent_token": "tok-SECRET", "attempts": [["Authorization", "Bearer x-SECRET"]]},
    }

    scrubbed = scrub_event(event, {})

    assert "SECRET" not in json.dumps(scrubbed)
    assert scrubbed["request"]["headers"]["User-Agent"] == "curl"
    assert scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["count"] == 3
    assert scrubbed["request"]["url"] == "https://botadmin.example.com/api/send"


def test_sentry_starts_only_with_a_dsn(tmp_path):
    """Settings import sentry_sdk only when SENTRY_DSN is set (checked in a fresh process)."""
    code = (
        "import django, sys; django.setup(); "
        "import sentry_sdk; print(sentry_sdk.get_client().is_active())"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "botadmin.settings"}
    env.pop("SENTRY_DSN", None)
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    env["SENTRY_DSN"] = "https://public@127.0.0.1:9/1"
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert off.stdout.strip() == "False", off.stderr
    assert on.stdout.strip() == "True", on.stderr


# A webhook receiver's credential in its URL's path: made of parts, so no scanner of the
# repository takes these for real ones.
SLACK = "/".join(["XXXXXXXXXXXXXXXXXXXXXXXX"])
DISCORD = "-".join(["abcDEF_ghi", "JKLmno123pqrSTUvwx456yzABCdef789GHIjklMNOpqr012stuVWX345"])
FEISHU = "-".join(["0f3b2a9e", "1c4d", "4e5f", "8a9b", "0c1d2e3f4a5b"])
WORKFLOW = "".join(["0f3b2a9e1c4d", "4e5f8a9b0c1d2e3f4a5b"])
ZAPIER = "abc" + "1def"
TOKEN = "q3v8fJ2k" + "Lm9PzX7wR4tY"


@pytest.mark.parametrize(
    "url, shown, secret",
    [
        (f"https://hooks.slack.com/services/T00000000/B00000000/{SLACK}", "https://hooks.slack.com/services/T00000000/B00000000/********", SLACK),
        (f"https://discord.com/api/webhooks/123456789012345678/{DISCORD}", "https://discord.com/api/webhooks/123456789012345678/********", DISCORD),
        (f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU}", "https://open.feishu.cn/open-apis/bot/v2/hook/********", FEISHU),
        (f"https://open.larksuite.com/open-apis/bot/v2/hook/{FEISHU}", "https://open.larksuite.com/open-apis/bot/v2/hook/********", FEISHU),
        (
            f"https://prod-27.westus.logic.azure.com:443/workflows/{WORKFLOW}/triggers/manual/paths/invoke?api-version=2016-06-01&sv=1.0&sig=SAS-{TOKEN}",
            "https://prod-27.westus.logic.azure.com:443/workflows/********/triggers/manual/paths/invoke?api-version=2016-06-01&sv=1.0&sig=********",
            WORKFLOW,
        ),
        (f"https://hooks.zapier.com/hooks/catch/123456/{ZAPIER}/", "https://hooks.zapier.com/hooks/catch/123456/********/", ZAPIER),
        (f"https://recv.example:8443/hooks/{TOKEN}", "https://recv.example:8443/hooks/********", TOKEN),
        (f"https://ops:pw@recv.example/in/{FEISHU}?team=7", "https://********@recv.example/in/********?team=7", FEISHU),
    ],
)  # fmt: skip
def test_a_token_in_a_urls_path_is_masked_keeping_the_host_and_the_first_segments(
    url, shown, secret
):
    assert mask_secrets(f"POST {url} failed") == f"POST {shown} failed"
    assert secret not in mask_secrets(f"POST {url} failed")


@pytest.mark.parametrize(
    "url",
    [
        "https://recv.example/api/callback",
        "https://recv.example/webhooks/botadmin",
        "https://recv.example/v2/bots/wecom-receiver/messages",
        "https://recv.example/blog/2024-01-15-release-notes",
        "https://hooks.slack.com/",
        "http://10.0.0.5:7600/send?next=a@b",
        "https://discord.com/api/webhooks",
    ],
)
def test_ordinary_paths_stay_as_they_are(url):
    assert mask_secrets(f"POST {url} failed") == f"POST {url} failed"


# More receivers' shapes, generated (made of parts too): Mattermost's 26 lower-case letters
# and digits, Rocket.Chat's id and token, Teams' UUIDs and hex, a Telegram bot's token, a
# Netlify build hook's 24 hex digits, Grafana OnCall's base62, a base64url token with `-`
# and `_`, a SHA-1.
MATTERMOST = "xbpq7r8nqfdy" + "5fckn5yojd1yzh"
ROCKET_ID, ROCKET_TOKEN = "6bY7dJx2zKp" + "Fq8RmT", "ZxY3vB9wQ2mN" + "7kL4pR8tH1jF6gD0sA5cV"
TEAMS_HEX = "9e1c4d4e5f8a9b0c" + "1d2e3f4a5b0f3b2a"
TELEGRAM = "123456789:" + "AAH4kLm9PzX7wR4tYq3v8fJ2kE1sD5gH6jK"
NETLIFY = "5f7c3a1b2d4e" + "6f8a9b0c1d2e"
ONCALL = "Kx8LmQ2pZr7T" + "vN3yWb9cJd4Fh"
URLSAFE = "Xk3_9fQz-" + "LmN2pR7sT4vW8yB"
SHA1 = "da39a3ee5e6b4b0d" + "3255bfef95601890afd80709"


@pytest.mark.parametrize(
    "url, shown",
    [
        (f"https://chat.example.com/hooks/{MATTERMOST}", "https://chat.example.com/hooks/********"),
        (f"https://chat.example.com/hooks/{ROCKET_ID}/{ROCKET_TOKEN}", "https://chat.example.com/hooks/********/********"),
        (
            f"https://contoso.webhook.office.com/webhookb2/{FEISHU}@{FEISHU}/IncomingWebhook/{TEAMS_HEX}/{FEISHU}",
            "https://contoso.webhook.office.com/webhookb2/********/IncomingWebhook/********/********",
        ),
        (f"https://api.telegram.org/bot{TELEGRAM}/sendMessage", "https://api.telegram.org/********/sendMessage"),
        (f"https://api.netlify.com/build_hooks/{NETLIFY}", "https://api.netlify.com/build_hooks/********"),
        (f"https://events.pagerduty.com/integration/{WORKFLOW}/enqueue", "https://events.pagerduty.com/integration/********/enqueue"),
        (f"https://oncall.example.com/integrations/v1/alertmanager/{ONCALL}/", "https://oncall.example.com/integrations/v1/alertmanager/********/"),
        (f"https://recv.example/hooks/{URLSAFE}", "https://recv.example/hooks/********"),
        (f"https://recv.example/alert/{FEISHU}", "https://recv.example/alert/********"),
        (f"https://ci.example.com/hooks/build-notifications-{TOKEN}", "https://ci.example.com/hooks/********"),
        (f"https://git.example.com/commit/{SHA1}/notify", "https://git.example.com/commit/********/notify"),
    ],
)  # fmt: skip
def test_generated_tokens_in_a_path_are_masked_wherever_they_are(url, shown):
    assert mask_secrets(f"POST {url} failed") == f"POST {shown} failed"


@pytest.mark.parametrize(
    "url",
    [
        "https://alerts.example.com/receiver-prod2024",
        "https://ci.example.com/hooks/build-notifications-2026",
        "https://ops.example.com/api/v2/alerts/team-ops-channel01",
        "https://ops.example.com/hooks/TeamOpsChannel01",
        "https://ops.example.com/hooks/grafana_oncall_team3_prod",
        "https://ops.example.com/k8s-prod-cluster01/alertmanager-webhook-v2",
        "https://ops.example.com/wecom/qingdao-ops-robot-2025",
        "https://ops.example.com/hooks/customerServiceBotV2Prod",
        "https://backup.example.com/runs/backup-2024-01-15T10-30-00/done",
        "https://recv.example/notify/release-notes-2024-q3",
        "https://recv.example/https-proxy-webhook-eu-west-1",
    ],
)
def test_names_with_hyphens_underscores_or_a_few_digits_stay_readable(url):
    assert mask_secrets(f"POST {url} failed") == f"POST {url} failed"
    assert path_secrets(url) == []


def test_the_path_requests_and_urllib3_quote_without_the_rest_of_the_url_is_masked():
    refused = (
        "ConnectionError: HTTPSConnectionPool(host='hooks.slack.com', port=443): Max retries "
        f"exceeded with url: /services/T0/B0/{SLACK} (Caused by NewConnectionError(…))"
    )
    debug_line = f'https://recv.example:443 "POST /hooks/{TOKEN} HTTP/1.1" 500 7'

    assert f"with url: /services/T0/B0/{MASK} (Caused by" in mask_secrets(refused)
    assert (
        mask_secrets(debug_line) == f'https://recv.example:443 "POST /hooks/{MASK} HTTP/1.1" 500 7'
    )
    # botadmin's own access log keeps its paths: a message id is no credential
    line = f"GET /api/messages/{WORKFLOW} HTTP/1.1"
    assert mask_secrets(line) == line


def test_the_secret_tokens_of_a_urls_path_are_listed_to_mask_where_an_answer_quotes_them():
    assert path_secrets(f"https://hooks.zapier.com/hooks/catch/123456/{ZAPIER}/") == [ZAPIER]
    assert path_secrets(f"https://recv.example/hooks/{TOKEN}?key=x") == [TOKEN]
    assert path_secrets("https://recv.example/webhooks/botadmin") == []
    assert path_secrets("http://[::1") == []  # a URL that does not split
