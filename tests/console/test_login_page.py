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
