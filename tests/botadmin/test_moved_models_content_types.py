"""The announcements and forwarding models moved out of `messaging` with their content
types (and so the permissions given to operators). Undoing the move after a round trip
(`migrate announcements zero`, back, then `migrate forwarding zero`), when `migrate`'s
post_migrate had recreated content types in both apps, failed with a duplicate key."""

from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType


@pytest.mark.django_db
@pytest.mark.parametrize("app", ["forwarding", "announcements"])
def test_undoing_a_move_keeps_the_content_types_messaging_has_already(app):
    move = import_module(f"{app}.migrations.0001_models_from_messaging")
    twin, *others = move.MODELS
    # Left by an earlier round trip: one model's content type in both apps.
    ContentType.objects.create(app_label="messaging", model=twin)

    move.restore_content_types(apps, schema_editor=None)

    assert set(
        ContentType.objects.filter(app_label="messaging", model__in=move.MODELS).values_list(
            "model", flat=True
        )
    ) == set(move.MODELS)
    assert list(ContentType.objects.filter(app_label=app).values_list("model", flat=True)) == [twin]

    move.rename_content_types(apps, schema_editor=None)  # and forwards again

    assert set(ContentType.objects.filter(app_label=app).values_list("model", flat=True)) == set(
        move.MODELS
    )
