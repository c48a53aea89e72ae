from django.conf import settings
from django.db import models


class UserSession(models.Model):
    """A session a user logged in with (Django's `django_session` holds the
    session itself), so that logging out or being deactivated ends the user's
    other sessions too (botadmin/sessions.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)

    def __str__(self):
        return f"{self.user_id}: {self.session_key[:6]}…"
