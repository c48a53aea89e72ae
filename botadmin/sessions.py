"""Django's cached_db sessions, also while the cache is down; logging out ends
every session of the user, not only the one in the browser.

Django's own sessions and login (cached_db's `SessionStore`, `ModelBackend`)
already end a user's sessions when the password changes (the session hash) or
the account is deactivated (the backend refuses inactive users). What Django
does not know is which sessions belong to a user, so each login records its
session key (`UserSession`) and logging out deletes them all through the
session store; deactivating or deleting an account does the same, so the rows
do not wait for their expiry.

Django's cached_db reads a session from the cache and, on a miss, from the
database; it writes the database first. But with the cache unreachable its
`load()`, `exists()` and `delete()` raise, so nobody could log in or out. Here
its cache is `BestEffortCache`: while the cache is down, sessions live in the
database alone. A copy in the cache expires after COPY_SECONDS at most: one the
cache could not forget (a log-out while it was unreachable) cannot outlive its
database row for longer once the cache is back."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.models import Session
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from .cache import BestEffortCache
from .models import UserSession

# A copy of a session stays in the cache this many seconds at most.
COPY_SECONDS = 300


class _SessionCopies(BestEffortCache):
    def set(self, key, value, timeout) -> None:
        super().set(key, value, min(timeout, COPY_SECONDS))


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _SessionCopies(settings.SESSION_CACHE_ALIAS)


def session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def end_sessions(user) -> None:
    """Delete every session the user logged in with (database and cache)."""
    store = session_store()
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        store().delete(key)
    UserSession.objects.filter(session_key__in=keys).delete()


def clear_expired() -> None:
    """Delete expired sessions, as Django's `clearsessions` does, and forget
    their keys."""
    session_store().clear_expired()
    UserSession.objects.exclude(session_key__in=Session.objects.values("session_key")).delete()


@receiver(user_logged_in, dispatch_uid="botadmin.sessions.record")
def _record(sender, request, user, **kwargs):
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.update_or_create(session_key=key, defaults={"user": user})


@receiver(user_logged_out, dispatch_uid="botadmin.sessions.end_on_logout")
def _end_on_logout(sender, request, user, **kwargs):
    if user is not None and user.is_authenticated:
        end_sessions(user)


@receiver(post_save, dispatch_uid="botadmin.sessions.end_on_deactivation")
def _end_on_deactivation(sender, instance, **kwargs):
    if sender is get_user_model() and not instance.is_active:
        end_sessions(instance)


# Connected for the user model only: a pre_delete receiver of every model would make
# Django fetch each row of every delete to signal it (no fast delete), which a bot's
# deletion and the retention purge, a million rows at a time, cannot afford.
@receiver(
    pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="botadmin.sessions.end_on_delete"
)
def _end_on_delete(sender, instance, **kwargs):
    end_sessions(instance)
