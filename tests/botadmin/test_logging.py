import logging

from botadmin.logging import MaskSecretsFilter, mask_secrets


def test_query_string_secrets_are_masked():
    line = "POST /api/send?secret=abcDEF123_-xyz&conversation_id=wr1 HTTP/1.1"
    assert mask_secrets(line) == "POST /api/send?secret=********&conversation_id=wr1 HTTP/1.1"


def test_json_secrets_and_bearer_tokens_are_masked():
    assert "s3cr3t" not in mask_secrets('{"secret": "s3cr3t", "msgtype": "text"}')
    assert "tok123" not in mask_secrets("Authorization: Bearer tok123")
    assert "k-e-y" not in mask_secrets("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-e-y")


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
