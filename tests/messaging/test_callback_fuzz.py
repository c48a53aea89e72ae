"""Whatever an agent posts to /api/callback: never a 500, always the envelope, and
a message is stored exactly when the answer is ok (a NUL character reaching
PostgreSQL once came back as a 503)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.models import Message
from tests.fuzzing import examples

from .support import SEED_MSGTYPES, callback_body

ENVELOPE_FIELDS = [
    "msgtype", "conversation_id", "sender", "msgid", "timestamp", "conversation_type",
    "conversation_name", "sender_name", "secret",
]  # fmt: skip
OBJECT_FIELDS = [
    "content", "cdn_type", "cdn", "url", "title", "desc", "appicon", "appid", "appname",
    "page_path", "pagepath", "mentioned_list", "image_url",
]  # fmt: skip
STORED: list[str] = []
FUZZ = settings(
    max_examples=examples(800),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)  # NUL included
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
counter = iter(range(10**9))


@st.composite
def callbacks(draw, bot):
    """A seed callback with some fields replaced, removed or added."""
    body = callback_body(draw(st.sampled_from(SEED_MSGTYPES)), bot)
    body["msgid"] = f"fuzz{next(counter)}"  # mostly unique, so accepted ones are stored
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(ENVELOPE_FIELDS) | text)
        if draw(st.integers(0, 3)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(json_values)
    inner = body.get(body.get("msgtype")) if isinstance(body.get("msgtype"), str) else None
    if isinstance(inner, dict) and draw(st.booleans()):
        inner[draw(st.sampled_from(OBJECT_FIELDS))] = draw(json_values)
    return body


def post_and_check(client, raw: bytes):
    before = Message.objects.count()
    response = client.post("/api/callback", data=raw, content_type="application/json")
    assert response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    answer = json.loads(response.content)
    assert isinstance(answer["errcode"], int) and isinstance(answer["errmsg"], str)
    if answer["errcode"] == 0:
        assert response.status_code == 200
        STORED.append(raw)
        assert Message.objects.count() in (before, before + 1)  # a repeated msgid is kept once
    else:
        assert response.status_code >= 400
        assert Message.objects.count() == before, answer


@pytest.fixture
def reaches_acceptance():
    """Guards the fuzzer itself: it must also generate callbacks that are stored (counted
    around its own examples: a separate test could run in another process)."""
    STORED.clear()
    yield
    assert len(STORED) > examples(800) / 16  # 50 in CI


@FUZZ
@given(data=st.data())
def test_generated_callbacks_never_break_the_envelope(client, bot, reaches_acceptance, data):
    body = data.draw(callbacks(bot))
    ascii_only = data.draw(st.booleans())
    post_and_check(client, json.dumps(body, ensure_ascii=ascii_only).encode())


@settings(FUZZ, max_examples=examples(300))
@given(raw=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_and_json_values_never_break_the_envelope(client, bot, raw):
    post_and_check(client, raw)
