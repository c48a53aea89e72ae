"""tests/messaging/support.py's `purge_broker`, which tests that read the broker's queues
start with: what earlier tests' commits handed this process's publisher thread is purged
with the rest, not left to arrive after the purge (and be taken for the test's own)."""

from django.db import transaction

from botadmin.celery import app as celery_app
from conversations.tasks import run_sync
from tests.messaging.support import purge_broker, take_task_messages

# Each call of run_sync is published on its own (no ids to merge): enough of them that
# the publisher thread is still at it when the purge comes.
EARLIER_CALLS = 300


def test_the_wake_ups_an_earlier_commit_handed_the_publisher_are_purged_too(transactional_db):
    with transaction.atomic():  # an earlier test's commit
        for run_id in range(EARLIER_CALLS):
            run_sync.delay_on_commit(run_id)

    purge_broker()

    taken = take_task_messages(celery_app.conf.task_default_queue, wait=1)
    assert [m.args for m in taken if m.task == run_sync.name] == []
