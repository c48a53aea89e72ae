"""Stored failure reasons: English in the column's value, translated when shown, the other
side's words verbatim, and plain texts (older rows, raw answers) kept as they are."""

import json

import pytest
from django.utils import translation
from django.utils.translation import gettext_noop

from botadmin.reasons import (
    MAX_DEPTH,
    Reason,
    ReasonField,
    as_json,
    from_json,
    ngettext_noop,
    sentence,
    shorten,
    stored_start,
    translate,
)
from messaging.models import Message
from messaging.outbox import INTERRUPTED

UNREACHABLE = gettext_noop("agent unreachable: %(error)s")
GAVE_UP = gettext_noop("gave up after %(count)s attempts: %(reason)s")
# A counted reason of the connectors' catalogue.
KEYS_ANSWER = ngettext_noop("%(count)s robot key answers", "%(count)s robot keys answer", "count")


def test_a_reason_reads_as_its_english_text_and_translates_on_demand():
    reason = Reason(GAVE_UP, count=5, reason=Reason(UNREACHABLE, error="ConnectTimeout"))

    assert reason == "gave up after 5 attempts: agent unreachable: ConnectTimeout"
    with translation.override("zh-hans"):
        assert translate(reason) == "尝试 5 次后放弃：无法连接代理：ConnectTimeout"
    with translation.override("en"):
        assert translate(reason) == reason


def test_the_other_sides_words_are_never_translated():
    errmsg = "agent unreachable: ConnectTimeout"  # a msgid we know, but said by the other side
    with translation.override("zh-hans"):
        assert translate(errmsg) == errmsg
        assert translate(Reason(UNREACHABLE, error=errmsg)) == f"无法连接代理：{errmsg}"


@pytest.mark.parametrize(
    "stored",
    [
        Reason(GAVE_UP, count=2, reason=Reason(UNREACHABLE, error="ReadTimeout")),
        INTERRUPTED,
        "invalid webhook url, hint: [1], from ip: 127.0.0.1",  # a raw errmsg
        '{"reason": "agent unreachable: %(error)s", "params": {}}',  # a raw answer like ours
        '{"reason": broken',
        "",
    ],
)
def test_a_reason_field_gives_back_what_was_stored(stored):
    field = ReasonField()
    loaded = field.from_db_value(field.get_prep_value(stored), None, None)

    assert loaded == stored
    if isinstance(stored, Reason):
        assert (loaded.msgid, loaded.params) == (stored.msgid, stored.params)
    with translation.override("zh-hans"):
        assert translate(loaded) == translate(stored)


@pytest.mark.parametrize(
    "count, english, chinese",
    [(1, "1 robot key answers", "1 个机器人密钥有应答"), (3, "3 robot keys answer", "3 个机器人密钥有应答")],
)  # fmt: skip
def test_a_counted_reason_takes_the_form_its_count_asks_for_in_each_language(
    count, english, chinese
):
    reason = Reason(KEYS_ANSWER, count=count)

    assert reason == english
    with translation.override("zh-hans"):
        assert translate(reason) == chinese
    field = ReasonField()
    stored = field.from_db_value(field.get_prep_value(reason), None, None)
    back = from_json(json.loads(json.dumps(as_json(reason))))
    for copy in (stored, back, shorten(reason, 10)):
        assert copy == english and copy.plural == reason.plural
        with translation.override("zh-hans"):
            assert translate(copy) == chinese


def test_shortening_cuts_the_parameters_and_keeps_the_wording():
    reason = shorten(Reason(UNREACHABLE, error="x" * 50), 10)
    assert reason.msgid == UNREACHABLE and reason.params == {"error": "x" * 10}
    assert shorten("y" * 50, 10) == "y" * 10


def test_a_message_keeps_a_reason_and_an_old_plain_text(make_conversation, bot):
    conversation = make_conversation(bot, "wrReasons")
    fields = {"bot": bot, "conversation": conversation, "direction": "out", "msgtype": "text"}
    fields |= {"body": {}, "status": "failed", "source": "api"}
    new = Message.objects.create(last_error=Reason(UNREACHABLE, error="ConnectError"), **fields)
    old = Message.objects.create(last_error="agent unreachable: ConnectError", **fields)

    new.refresh_from_db()
    old.refresh_from_db()
    with translation.override("zh-hans"):
        assert translate(new.last_error) == "无法连接代理：ConnectError"
        assert translate(old.last_error) == "agent unreachable: ConnectError"
    assert Message.objects.filter(last_error__contains="ConnectError").count() == 2


def test_rows_storing_a_reason_of_one_wording_are_found_by_how_it_starts(make_conversation, bot):
    """Whatever its parameters (a % or _ in them, a nested reason), and not a plain text
    naming the wording, nor a reason whose wording merely starts the same."""
    conversation = make_conversation(bot, "wrStoredStart")
    fields = {"bot": bot, "conversation": conversation, "direction": "out", "msgtype": "text"}
    fields |= {"body": {}, "status": "failed", "source": "api"}
    kept = [
        Message.objects.create(last_error=Reason(UNREACHABLE, error="100%_down"), **fields),
        Message.objects.create(
            last_error=Reason(UNREACHABLE, error=Reason(GAVE_UP, count=2, reason="x")), **fields
        ),
    ]
    Message.objects.create(last_error=UNREACHABLE, **fields)
    Message.objects.create(last_error=Reason(UNREACHABLE + " (again)", error="x"), **fields)
    Message.objects.create(last_error=Reason(GAVE_UP, count=1, reason="y"), **fields)

    found = Message.objects.filter(last_error__startswith=stored_start(UNREACHABLE))

    assert sorted(found.values_list("pk", flat=True)) == [m.pk for m in kept]


def test_a_reason_handed_to_another_process_as_json_comes_back_whole():
    reason = Reason(GAVE_UP, count=2, reason=Reason(UNREACHABLE, error="ReadTimeout"))

    back = from_json(json.loads(json.dumps(as_json(reason))))

    assert (back.msgid, back.params["reason"].msgid) == (GAVE_UP, UNREACHABLE)
    assert from_json("plain words") == "plain words"


@pytest.mark.parametrize(
    "data", [None, 3, {"reason": "x"}, {"reason": "%(a)s", "params": {"b": 1}}, {"params": {}}]
)
def test_json_that_is_not_a_reason_gives_the_default(data):
    assert from_json(data, "the errmsg") == "the errmsg"


def nested(depth: int) -> Reason:
    """A reason with `depth` reasons inside it, as a loop composing one would build."""
    reason = Reason(UNREACHABLE, error="ReadTimeout")
    for count in range(depth):
        reason = Reason(GAVE_UP, count=count, reason=reason)
    return reason


def test_a_reason_nested_thousands_deep_is_shown_and_stored_without_exhausting_the_stack():
    deep = nested(5000)

    with translation.override("zh-hans"):
        shown = translate(deep)
    # The outer levels in the reader's language, the deepest as written, in English.
    assert shown.startswith("尝试 4999 次后放弃：尝试 4998 次后放弃：")
    assert shown.endswith("gave up after 0 attempts: agent unreachable: ReadTimeout")
    assert len(shown) > 5000 * len("gave up after 0 attempts: ")
    field = ReasonField()
    loaded = field.from_db_value(field.get_prep_value(deep), None, None)
    assert loaded == deep
    with translation.override("zh-hans"):
        assert translate(loaded) == shown
    assert shorten(deep, 10).startswith("gave up after 4999 attempts: gave up after 4998")


def test_a_stored_reason_nested_deeper_than_ours_is_kept_as_its_text():
    stored = "null"
    for _ in range(MAX_DEPTH + 5):
        stored = f'{{"reason": "%(reason)s", "params": {{"reason": {stored}}}}}'

    assert ReasonField().from_db_value(stored, None, None) == stored
    assert from_json(json.loads(stored), "the errmsg") == "the errmsg"


def test_a_reason_shown_on_its_own_starts_with_a_capital_in_english_only_where_it_should():
    """Not the other side's words (a raw answer), a host name, botadmin's name or a code."""
    refused = Reason(gettext_noop("%(host)s refused the connection"), host="hooks.example")
    with translation.override("en"):
        assert sentence(Reason(UNREACHABLE, error="x")) == "Agent unreachable: x"
        assert sentence(Reason(GAVE_UP, count=2, reason=Reason(UNREACHABLE, error="x"))) == (
            "Gave up after 2 attempts: agent unreachable: x"
        )
        assert sentence(refused) == "hooks.example refused the connection"
        assert sentence(Reason("botadmin stopped")) == "botadmin stopped"
        assert sentence(Reason("image.base64 is not base64")) == "image.base64 is not base64"
        assert sentence("ok, queued") == "ok, queued"
    with translation.override("zh-hans"):
        assert sentence(Reason(UNREACHABLE, error="x")) == "无法连接代理：x"
