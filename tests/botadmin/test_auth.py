"""botadmin/auth.py reads the session and the logged-in user with one hand-written
SELECT: what a logged-in operator can do, and when they are logged out, must be
exactly what Django's own classes give."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.middleware import SessionMiddleware
from django.contrib.sessions.models import Session as DjangoSession
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from botadmin.auth import AuthenticationMiddleware, ModelBackend, SessionStore
from botadmin.models import Session

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
    assert row.user_id == operator.pk
    assert _fields(store.loaded_user) == _fields(get_user_model().objects.get(pk=operator.pk))
    assert _fields(user) == _fields(get_user_model().objects.get(pk=operator.pk))
    assert store["_auth_user_id"] == str(operator.pk)
    assert logged_in.get(CONSOLE).status_code == 200


def test_one_query_reads_the_session_and_its_user(logged_in, operator):
    request = RequestFactory().get(CONSOLE)
    request.COOKIES["sessionid"] = logged_in.cookies["sessionid"].value
    SessionMiddleware(lambda r: None).process_request(request)
    AuthenticationMiddleware(lambda r: None).process_request(request)

    with CaptureQueriesContext(connection) as queries:
        assert request.user.pk == operator.pk and request.user.is_authenticated

    assert len(queries) == 1, [q["sql"] for q in queries]


def test_the_signed_session_data_decides_who_is_logged_in(logged_in, operator):
    # The user column only saves a query: were it ever to disagree with the
    # signed data, the data wins, as with Django's own sessions.
    other = get_user_model().objects.create_user("other", password="pw-other-1", is_staff=True)
    key = logged_in.cookies["sessionid"].value
    Session.objects.filter(session_key=key).update(user=other)

    response = logged_in.get(CONSOLE)

    assert response.status_code == 200
    assert response.wsgi_request.user.pk == operator.pk


def test_logging_in_records_the_user_and_deleting_the_user_ends_the_session(logged_in, operator):
    key = logged_in.cookies["sessionid"].value
    assert Session.objects.get(session_key=key).user_id == operator.pk

    operator.delete()

    assert not Session.objects.filter(session_key=key).exists()
    assert logged_in.get(CONSOLE).status_code == 302


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


def test_the_upgrade_keeps_everyone_logged_in(client, operator):
    # A session stored in Django's table before botadmin.models.Session existed.
    old = DjangoSessionStore()
    old.update(
        {
            "_auth_user_id": str(operator.pk),
            "_auth_user_backend": "botadmin.auth.ModelBackend",
            "_auth_user_hash": operator.get_session_auth_hash(),
        }
    )
    old.create()
    expired = DjangoSessionStore()
    expired["x"] = 1
    expired.create()
    DjangoSession.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    migration = importlib.import_module("botadmin.migrations.0002_copy_django_sessions")

    migration.copy_sessions(apps, SimpleNamespace(connection=connection))

    assert list(Session.objects.values_list("session_key", "user_id")) == [
        (old.session_key, operator.pk)
    ]
    assert not DjangoSession.objects.exists()
    client.cookies["sessionid"] = old.session_key
    assert client.get(CONSOLE).status_code == 200
