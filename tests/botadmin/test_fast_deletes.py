"""The retention deletes millions of rows: Django deletes them with one statement per
table, without loading them ("fast delete"), only while no pre_delete or post_delete
receiver listens to their model (botadmin/sessions.py listens to the user model only)."""

import pytest
from django.db.models.deletion import Collector

from audit.models import OperatorAction
from forwarding.models import WebhookAttempt
from messaging.models import CardTaskId, DeliveryAttempt, MessageMedia


@pytest.mark.parametrize(
    "model", [WebhookAttempt, DeliveryAttempt, MessageMedia, OperatorAction, CardTaskId]
)
def test_the_rows_retention_deletes_are_deleted_without_being_loaded(model):
    assert Collector("default").can_fast_delete(model.objects.all())
