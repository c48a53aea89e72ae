"""Operators log in with Django's own sessions and ModelBackend. Logging out,
changing the password and deactivating an account end that user's sessions in
every browser, not only the one that did it (botadmin/sessions.py)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from botadmin.models import UserSession

CONSOLE = "/console/"


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_user("ops", password="pw-123456", is_staff=True)


def _logged_in(username="ops", password="pw-123456") -> Client:
    client = Client()
    assert client.login(username=username, password=password)
    assert client.get(CONSOLE).status_code == 200
    return client


def _logged_out(client: Client) -> bool:
    response = client.get(CONSOLE)
    return response.status_code == 302 and "/login" in response["Location"]


def test_logging_out_ends_the_users_sessions_in_other_browsers(operator):
    laptop, phone = _logged_in(), _logged_in()
    get_user_model().objects.create_user("colleague", password="pw-colleague", is_staff=True)
    colleague = _logged_in("colleague", "pw-colleague")

    laptop.post("/console/logout/")

    assert _logged_out(laptop) and _logged_out(phone)
    assert not _logged_out(colleague)
    assert list(UserSession.objects.values_list("user__username", flat=True)) == ["colleague"]


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(operator):
    here, elsewhere = _logged_in(), _logged_in()

    response = here.post(
        "/admin/password_change/",
        {
            "old_password": "pw-123456",
            "new_password1": "A-new-pw-654321",
            "new_password2": "A-new-pw-654321",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not _logged_out(here)
    assert _logged_out(elsewhere)


@pytest.mark.parametrize("how", ["saved", "updated"])
def test_deactivating_an_account_ends_its_sessions(operator, how):
    laptop, phone = _logged_in(), _logged_in()

    if how == "saved":  # the admin's form
        operator.is_active = False
        operator.save()
    else:  # a bulk update sends no signal: Django's backend refuses the user
        get_user_model().objects.filter(pk=operator.pk).update(is_active=False)

    assert _logged_out(laptop) and _logged_out(phone)
    if how == "saved":
        assert not Session.objects.exists() and not UserSession.objects.exists()


def test_deleting_an_account_ends_its_sessions(operator):
    laptop = _logged_in()

    operator.delete()

    assert _logged_out(laptop)
    assert not Session.objects.exists() and not UserSession.objects.exists()


def test_logging_out_ends_the_session_for_every_copy_of_the_cookie(operator):
    browser = _logged_in()
    copy = Client()
    copy.cookies["sessionid"] = browser.cookies["sessionid"].value
    assert copy.get(CONSOLE).status_code == 200

    browser.post("/console/logout/")

    assert _logged_out(copy)


def test_a_session_outlives_the_cache(operator):
    # cached_db: the database holds the session, the cache only saves a read.
    browser = _logged_in()

    cache.clear()

    assert not _logged_out(browser)


def test_an_expired_session_logs_out(operator):
    browser = _logged_in()
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    cache.clear()

    assert _logged_out(browser)


def test_an_unknown_session_key_is_no_login(db):
    client = Client()
    client.cookies["sessionid"] = "x" * 32

    assert _logged_out(client)


@pytest.mark.parametrize(("fallbacks", "stays"), [(["old-key-" + "o" * 50], True), ([], False)])
def test_a_session_outlives_a_secret_key_rotation_with_the_old_key_in_fallbacks(
    operator, settings, fallbacks, stays
):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "old-key-" + "o" * 50, []
    browser = _logged_in()

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-key-" + "n" * 50, fallbacks
    cache.clear()  # the session as read from the database, signed with the old key

    assert _logged_out(browser) is not stays
    if stays:  # moved to the new key: the old one can go
        settings.SECRET_KEY_FALLBACKS = []
        assert not _logged_out(browser)
