"""The data migrations that keep each message's and announcement's creator by name
(`created_by_label`, messaging 0026 and announcements 0009): a deleted user's messages
still say who sent them."""

from django.conf import settings
from django.contrib.auth import get_user_model

from .id_windows import id_windows

# Primary keys per window: one SELECT and a few UPDATEs each, each its own transaction
# (the migrations are not atomic).
BATCH_SIZE = 1000


def filler(app_label: str, model_name: str):
    """A RunPython function filling the empty labels of rows whose creator still exists,
    a window of primary keys at a time. Idempotent: a filled row is not read again."""

    def fill(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        user_model = apps.get_model(settings.AUTH_USER_MODEL)
        username = get_user_model().USERNAME_FIELD  # historical models lack it
        for after, up_to in id_windows(model, BATCH_SIZE):
            rows = model.objects.filter(
                pk__gt=after,
                pk__lte=up_to,
                created_by__isnull=False,
                created_by_label="",
            ).values_list("pk", "created_by_id")
            by_user: dict[int, list[int]] = {}
            for pk, user_id in rows:
                by_user.setdefault(user_id, []).append(pk)
            names = dict(user_model.objects.filter(pk__in=by_user).values_list("pk", username))
            for user_id, pks in by_user.items():
                if names.get(user_id):
                    model.objects.filter(pk__in=pks).update(
                        created_by_label=str(names[user_id])[:150]
                    )

    return fill
