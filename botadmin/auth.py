"""Who is logged in, read with hand-written SQL (see botadmin/rows.py).

Every console and admin request reads its session and then its user. Django
builds both queries through the ORM, which took longer than PostgreSQL took
to answer them: together about a third of an empty logged-in page. The
classes below change only how those two rows are read; storage, expiry,
signing and the session-hash check stay Django's.

Settings: `SESSION_ENGINE = "botadmin.auth"` (this module's `SessionStore`)
and `AUTHENTICATION_BACKENDS = ["botadmin.auth.ModelBackend"]`.
"""

from functools import cache

from django.contrib.auth import backends, get_user_model
from django.contrib.sessions.backends import db
from django.db import connection
from django.utils import timezone

from .rows import ModelColumns, id_or_none


class SessionStore(db.SessionStore):
    """Django's database sessions, the row read by one SELECT."""

    def _get_session_from_db(self):
        columns = _session_columns(self.model)
        key = connection.ops.quote_name(self.model._meta.get_field("session_key").column)
        expires = connection.ops.quote_name(self.model._meta.get_field("expire_date").column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns.select_list(connection)} FROM {columns.table(connection)} "
                f"WHERE s.{key} = %s AND s.{expires} > %s",
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django does: a new key on the next save
            return None
        return columns.instance(row, connection)


@cache
def _session_columns(model) -> ModelColumns:
    return ModelColumns(model, "s")


class ModelBackend(backends.ModelBackend):
    """Django's ModelBackend; the logged-in user read by one SELECT."""

    def get_user(self, user_id):
        pk = id_or_none(user_id)  # the id the session holds, as text
        if pk is None:
            return None
        columns = _user_columns()
        pk_column = connection.ops.quote_name(columns.model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns.select_list(connection)} FROM {columns.table(connection)} "
                f"WHERE u.{pk_column} = %s",
                [pk],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        user = columns.instance(row, connection)
        return user if self.user_can_authenticate(user) else None


@cache
def _user_columns() -> ModelColumns:
    return ModelColumns(get_user_model(), "u")
