"""URLs carrying credentials: masked where shown, kept by the forms that show them masked."""

import pytest
from django import forms
from django.core.validators import URLValidator
from django.template import Context, Template

from botadmin.logging import MASK
from botadmin.masked_urls import mask_url, mask_url_fields

STORED = "https://hook:PW-secret@hooks.example.com/in?token=TOK-secret&team=7"


@pytest.mark.parametrize(
    "url, hidden, kept",
    [
        (STORED, ["PW-secret", "TOK-secret"], ["https://", "@hooks.example.com/in", "team=7"]),
        ("http://u:p%40ss@10.0.0.5:7600/", ["p%40ss"], ["http://", "@10.0.0.5:7600/"]),
        ("https://qyapi.example/send?key=ROBOT-key", ["ROBOT-key"], ["?key="]),
        ("https://x.example/in?access_token=AT-1&signing_secret=SS-2", ["AT-1", "SS-2"], []),
        (
            # Azure Functions' key, a SAS signature, a password, S3's presigned parts.
            "https://fn.azurewebsites.net/api/hook?code=FN-key&sig=SAS-sig&pwd=PW-3&pass=PW-4"
            "&auth=AU-5&X-Amz-Credential=AK-6&X-Amz-Signature=AMZ-7&client_credentials=CC-8",
            ["FN-key", "SAS-sig", "PW-3", "PW-4", "AU-5", "AK-6", "AMZ-7", "CC-8"],
            ["?code=", "&sig=", "&X-Amz-Signature="],
        ),
    ],
)
def test_a_password_and_secret_looking_query_values_are_masked(url, hidden, kept):
    masked = mask_url(url)

    assert all(secret not in masked for secret in hidden)
    assert MASK in masked and all(part in masked for part in kept)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in?team=7",
        "https://hooks.example.com/in?postcode=100000&design=flat&errcode=0",
        "http://agent.internal:8080?next=a@b",  # no user part: the port stays
        "",
    ],
)
def test_a_url_without_credentials_is_shown_as_it_is(url):
    assert mask_url(url) == url


@pytest.mark.parametrize(
    "url, masked",
    [
        ("https://TOKEN-1@git.example/org/repo", "https://********@git.example/org/repo"),
        ("https://user:PASS-2@host.example", "https://********@host.example"),
        ("https://TOKEN-3:x-oauth-basic@git.example/", "https://********@git.example/"),
        ("http://u:p@ss-4@10.0.0.5:7600/in", "http://********@10.0.0.5:7600/in"),
        ("wss://TOKEN-5@gw.example/ws?next=a@b", "wss://********@gw.example/ws?next=a@b"),
    ],
    ids=[
        "token-as-user",
        "user-and-password",
        "token-with-a-dummy-password",
        "at-in-password",
        "ws",
    ],
)
def test_the_whole_user_part_is_masked_whichever_half_holds_the_credential(url, masked):
    assert mask_url(url) == masked
    html = Template("{% load masked_urls %}{{ url|mask_url }}").render(Context({"url": url}))
    assert html == masked


def test_the_template_filter_masks_as_the_function_does():
    html = Template("{% load masked_urls %}{{ url|mask_url }}").render(Context({"url": STORED}))
    assert "PW-secret" not in html and "TOK-secret" not in html and MASK in html


class HookForm(forms.Form):
    url = forms.URLField(required=False)
    ws_url = forms.CharField(required=False, validators=[URLValidator(schemes=["ws", "wss"])])
    count = forms.IntegerField()


def _form(data=None):
    form = HookForm(data=data, initial={"url": STORED})
    mask_url_fields(form, {"url": STORED})
    return form


def test_an_edit_form_shows_the_stored_url_masked():
    html = str(_form()["url"])

    assert "PW-secret" not in html and "TOK-secret" not in html
    assert 'value="https://********@hooks.example.com/in?token=********&amp;team=7"' in html


def test_the_masked_url_sent_back_unchanged_keeps_the_stored_one():
    form = _form({"url": mask_url(STORED), "count": "1"})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["url"] == STORED and "url" not in form.changed_data


def test_an_edited_url_still_holding_the_mask_is_refused():
    """Else the stored password would go to an address typed without knowing it."""
    edited = mask_url(STORED).replace("hooks.example.com", "attacker.example")
    form = _form({"url": edited, "count": "1"})

    assert not form.is_valid()
    assert form.errors.as_data()["url"][0].code == "masked"


def test_a_new_url_is_taken_as_typed():
    form = _form({"url": "https://u:NEW-pw@other.example/x", "count": "1"})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["url"] == "https://u:NEW-pw@other.example/x"


def test_a_form_sent_back_with_another_error_still_shows_the_stored_url_masked():
    form = _form({"url": mask_url(STORED), "count": "many"})

    assert not form.is_valid()
    html = str(form["url"])
    assert "PW-secret" not in html and "https://********@hooks.example.com/in" in html


def test_a_url_just_typed_comes_back_as_typed_when_another_field_fails():
    """Masked, it could only be saved by typing its password again."""
    typed = "https://u:NEW-pw@other.example/x"
    form = _form({"url": typed, "count": "many"})

    assert not form.is_valid()
    assert f'value="{typed}"' in str(form["url"])


def test_a_text_field_checked_as_a_url_is_masked_too():
    form = HookForm(initial={"ws_url": "wss://u:WS-pw@gw.example/"})
    mask_url_fields(form, {"ws_url": "wss://u:WS-pw@gw.example/"})

    assert "WS-pw" not in str(form["ws_url"]) and "count" in form.fields
    assert str(form["count"]).startswith('<input type="number"')
