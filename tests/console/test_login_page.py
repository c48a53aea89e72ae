"""The login page's error is tied to the fields it concerns, for screen readers."""

import re

from django.urls import reverse


def test_a_wrong_password_is_announced_and_marks_both_fields(client, db):
    answer = client.post(
        reverse("console:login"), {"username": "nobody", "password": "wrong-password"}
    )
    html = answer.content.decode()
    assert re.search(r'<p class="error-text" id="login-error" role="alert">[^<]*用户名或密码', html)
    fields = re.findall(r"<input name=\"(?:username|password)\"[^>]*>", html)
    assert len(fields) == 2
    for field in fields:
        assert 'aria-invalid="true"' in field and 'aria-describedby="login-error"' in field


def test_the_first_visit_has_no_error_and_no_invalid_field(client, db):
    html = client.get(reverse("console:login")).content.decode()
    assert "login-error" not in html and "aria-invalid" not in html


def test_after_a_wrong_password_the_password_field_has_the_focus_the_username_kept(client, db):
    """The username field had it, already filled: the operator had to move on to the
    password they mistyped."""
    answer = client.post(reverse("console:login"), {"username": "alice", "password": "wrong"})
    html = answer.content.decode()

    username = re.search(r'<input name="username"[^>]*>', html).group()
    password = re.search(r'<input name="password"[^>]*>', html).group()
    assert 'value="alice"' in username and "autofocus" not in username
    assert "autofocus" in password and "value=" not in password


def test_the_first_visit_puts_the_focus_on_the_username(client, db):
    html = client.get(reverse("console:login")).content.decode()
    assert "autofocus" in re.search(r'<input name="username"[^>]*>', html).group()
    assert "autofocus" not in re.search(r'<input name="password"[^>]*>', html).group()
