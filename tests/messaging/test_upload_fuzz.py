"""Whatever is posted to /api/upload_media: never a 500, always the envelope, nothing stored
on refusal, and what is accepted can be sent by its media_id."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media.models import StoredFile
from messaging.models import UploadedMedia
from tests.fuzzing import examples

FUZZ = settings(
    max_examples=examples(500),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
AMR = b"#!AMR\n" + (b"\x3c" + bytes(31)) * 5
amr = st.binary(max_size=200).map(lambda tail: AMR + tail)
contents = st.binary(max_size=300) | amr
file_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"'),
    min_size=1,
    max_size=30,
)
# Mostly the two types an upload takes, sometimes anything.
kinds = st.integers(0, 9).flatmap(
    lambda n: text if n == 0 else st.sampled_from(["file", "file", "voice", "image", ""])
)
ACCEPTED: list[str] = []


@st.composite
def multipart(draw):
    """A multipart body with parts named media or something else, with or without names."""
    boundary = "fuzzboundary"
    if draw(st.integers(0, 2)) == 0:  # some well-formed uploads, to reach acceptance
        part = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="media"; '
            f'filename="{draw(file_names)}"\r\n\r\n'
        ).encode() + draw(st.binary(min_size=6, max_size=300) | amr)
        return (
            part + f"\r\n--{boundary}--\r\n".encode(),
            f"multipart/form-data; boundary={boundary}",
        )
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["media", "media", "file", ""]) | text)
        disposition = f'form-data; name="{name}"'
        if draw(st.integers(0, 4)):
            disposition += f'; filename="{draw(text)}"'
        parts.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
            + draw(contents)
            + b"\r\n"
        )
    raw = b"".join(parts) + f"--{boundary}--\r\n".encode()
    if draw(st.integers(0, 9)) == 0:
        raw = draw(st.binary(max_size=200))  # not multipart at all
    content_type = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                "multipart/form-data",
                "application/json",
                "",
            ]
        )
    )
    return raw, content_type


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE = 0


@pytest.fixture
def reaches_acceptance():
    ACCEPTED.clear()
    yield
    assert len(ACCEPTED) >= examples(500) / 50  # the fuzzer also draws uploads that pass


@FUZZ
@given(
    body=multipart(),
    kind=kinds,
    right_secret=st.integers(0, 9).map(bool),
)
def test_any_upload_answers_the_envelope_and_stores_only_what_it_accepts(
    client, robot_group, send, reaches_acceptance, body, kind, right_secret
):
    raw, content_type = body
    secret = robot_group.bot.secret if right_secret else "x" * 43
    stored = (UploadedMedia.objects.count(), StoredFile.objects.count())

    response = client.post(
        "/api/upload_media",
        raw,
        content_type=content_type,
        query_params={"secret": secret, "type": kind},
    )

    assert response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    answer = json.loads(response.content)
    if answer["errcode"]:
        assert response.status_code >= 400
        assert (UploadedMedia.objects.count(), StoredFile.objects.count()) == stored, answer
        return
    ACCEPTED.append(answer["media_id"])
    assert answer["type"] == kind and answer["created_at"].isdigit()
    body = {"msgtype": kind, kind: {"media_id": answer["media_id"]}}
    sent = send(secret, robot_group.conversation_id, body).json()
    assert sent["errcode"] == 0, sent
