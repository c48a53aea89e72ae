"""Who is logged in: the session and its user read by one hand-written SELECT
(see botadmin/rows.py).

Every console and admin request reads its session and then its user. Django
builds both queries through the ORM, which took longer than PostgreSQL took to
answer them, and they cost two round trips. Here the session row carries its
user's id (botadmin.models.Session), `SessionStore` reads the session joined to
its user, and the middleware hands that user to the backend. Storage, expiry,
signing and the session-hash check stay Django's.

Settings: `SESSION_ENGINE = "botadmin.auth"` (this module's `SessionStore`),
`AUTHENTICATION_BACKENDS = ["botadmin.auth.ModelBackend"]` and
`botadmin.auth.AuthenticationMiddleware` in place of Django's.
"""

from contextvars import ContextVar
from functools import cache

from django.contrib import auth
from django.contrib.auth import SESSION_KEY, backends, get_user_model
from django.contrib.auth import middleware as auth_middleware
from django.contrib.sessions.backends import db
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from .rows import ModelColumns, id_or_none


class SessionStore(db.SessionStore):
    """Django's database sessions in botadmin.models.Session; loading one also
    reads the user it logs in (`loaded_user`)."""

    def __init__(self, session_key=None):
        super().__init__(session_key)
        self.loaded_user = None

    @classmethod
    def get_model_class(cls):
        from .models import Session

        return Session

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        session.user_id = logged_in_user_id(data)
        return session

    def _get_session_from_db(self):
        session_columns, user_columns = _session_columns(self.model), _user_columns()
        quote = connection.ops.quote_name
        key = quote(self.model._meta.get_field("session_key").column)
        expires = quote(self.model._meta.get_field("expire_date").column)
        user_id = quote(self.model._meta.get_field("user").column)
        user_pk = quote(user_columns.model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {session_columns.select_list(connection)}, "
                f"{user_columns.select_list(connection)} "
                f"FROM {session_columns.table(connection)} "
                f"LEFT JOIN {user_columns.table(connection)} ON u.{user_pk} = s.{user_id} "
                f"WHERE s.{key} = %s AND s.{expires} > %s",
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django does: a new key on the next save
            return None
        split = len(session_columns)
        if row[split] is not None:
            self.loaded_user = user_columns.instance(row[split:], connection)
        return session_columns.instance(row[:split], connection)


def logged_in_user_id(data: dict):
    """The id of the user a session's data logs in, or None."""
    try:
        return get_user_model()._meta.pk.to_python(data[SESSION_KEY])
    except (KeyError, ValidationError):
        return None


@cache
def _session_columns(model) -> ModelColumns:
    return ModelColumns(model, "s")


@cache
def _user_columns() -> ModelColumns:
    return ModelColumns(get_user_model(), "u")


# The session whose user Django is looking up, while the middleware asks it to.
_session_in_lookup: ContextVar[SessionStore | None] = ContextVar("session_in_lookup", default=None)


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """Django's, with the user read together with the session."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _get_user(request))


def _get_user(request):
    if not hasattr(request, "_cached_user"):
        token = _session_in_lookup.set(request.session)
        try:
            request._cached_user = auth.get_user(request)
        finally:
            _session_in_lookup.reset(token)
    return request._cached_user


class ModelBackend(backends.ModelBackend):
    """Django's ModelBackend; the logged-in user taken from the session's SELECT,
    or read by one SELECT of its own."""

    def get_user(self, user_id):
        pk = id_or_none(user_id)  # the id the session holds
        if pk is None:
            return None
        session = _session_in_lookup.get()
        user = getattr(session, "loaded_user", None)
        if user is None or user.pk != pk:
            user = self._read_user(pk)
        if user is None:
            return None
        return user if self.user_can_authenticate(user) else None

    @staticmethod
    def _read_user(pk: int):
        columns = _user_columns()
        pk_column = connection.ops.quote_name(columns.model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns.select_list(connection)} FROM {columns.table(connection)} "
                f"WHERE u.{pk_column} = %s",
                [pk],
            )
            row = cursor.fetchone()
        return columns.instance(row, connection) if row is not None else None
