"""botadmin/auth.py reads the session and the logged-in user with hand-written
SQL: what a logged-in operator can do, and when they are logged out, must be
exactly what Django's own classes give."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from botadmin.auth import ModelBackend, SessionStore

CONSOLE = "/console/"


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_user("ops", password="pw-123456", is_staff=True)


@pytest.fixture
def logged_in(client, operator):
    assert client.login(username="ops", password="pw-123456")
    return client


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_session_and_user_read_as_the_orm_reads_them(logged_in, operator):
    key = logged_in.cookies["sessionid"].value

    store = SessionStore(key)
    row = store._get_session_from_db()
    user = ModelBackend().get_user(str(operator.pk))

    assert _fields(row) == _fields(Session.objects.get(session_key=key))
    assert _fields(user) == _fields(get_user_model().objects.get(pk=operator.pk))
    assert store["_auth_user_id"] == str(operator.pk)
    assert logged_in.get(CONSOLE).status_code == 200


def test_an_expired_session_logs_out(logged_in):
    key = logged_in.cookies["sessionid"].value
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    response = logged_in.get(CONSOLE)

    assert response.status_code == 302 and "/login" in response["Location"]
    assert SessionStore(key)._get_session_from_db() is None


def test_a_session_about_to_expire_still_holds(logged_in):
    key = logged_in.cookies["sessionid"].value
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() + timedelta(seconds=30)
    )

    assert logged_in.get(CONSOLE).status_code == 200


def test_an_unknown_session_key_gets_a_new_one_and_no_login(client, db):
    client.cookies["sessionid"] = "x" * 32

    response = client.get(CONSOLE)

    assert response.status_code == 302
    store = SessionStore("x" * 32)
    assert store.load() == {} and store.session_key is None


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda user: user.delete(), id="deleted"),
        pytest.param(
            lambda user: type(user).objects.filter(pk=user.pk).update(is_active=False),
            id="deactivated",
        ),
        pytest.param(
            lambda user: (user.set_password("new-pw-654321"), user.save()), id="password-changed"
        ),
    ],
)
def test_an_operator_whose_account_changed_is_logged_out(logged_in, operator, change):
    change(operator)

    response = logged_in.get(CONSOLE)

    assert response.status_code == 302 and "/login" in response["Location"]


def test_logging_out_ends_the_session_for_every_copy_of_the_cookie(logged_in):
    key = logged_in.cookies["sessionid"].value
    copy = Client()
    copy.cookies["sessionid"] = key
    assert copy.get(CONSOLE).status_code == 200

    logged_in.post("/console/logout/")

    assert copy.get(CONSOLE).status_code == 302


def test_a_session_holding_no_valid_user_id_is_no_login(db):
    backend = ModelBackend()
    assert backend.get_user("not-a-number") is None
    assert backend.get_user(str(2**70)) is None
    assert backend.get_user("999999") is None


def test_a_session_from_before_the_upgrade_asks_to_log_in_again(logged_in):
    # Sessions made before botadmin.auth name Django's own backend, which is no
    # longer configured: Django treats them as logged out (no error).
    key = logged_in.cookies["sessionid"].value
    store = SessionStore(key)
    store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    store.save()

    response = logged_in.get(CONSOLE)

    assert response.status_code == 302 and "/login" in response["Location"]
    assert logged_in.get(response["Location"]).status_code == 200
