from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class Session(AbstractBaseSession):
    """Django's database session, plus the user it logs in.

    With the user's id in a column, every request reads its session and its user
    in one SELECT (botadmin/auth.py), and deleting a user ends their sessions.
    The id is also in the signed session data, which stays what Django checks.
    """

    # No database constraint: a session saved while its user is being deleted
    # must not fail the response; such a row logs no one in and expires.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )

    class Meta(AbstractBaseSession.Meta):
        db_table = "botadmin_session"

    @classmethod
    def get_session_store_class(cls):
        from .auth import SessionStore

        return SessionStore
