"""A send on the wire when its conversation's (or its bot's) deletion is asked for: the
job waits for its outcome before it deletes the message, and the deletion tells what
became of it (its progress page, the audit entry of the deletion). Before, the job
deleted the row under the worker, whose outcome was then written nowhere."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from conversations.demo import DEMO_GROUPS
from conversations.secrets import generate_agent_token
from deletions.models import DeletionJob
from deletions.services import request_bot_deletion, request_conversation_deletion
from messaging.delivery import deliver
from messaging.models import Message
from messaging.sending import accept_outbound
from tests.deletions.running import run_deletions
from tests.fakes.agent import AgentWithOperator
from tests.polling import wait_until

TEXT = {"msgtype": "text", "text": {"content": "hello"}}


@pytest.fixture
def agent():
    with AgentWithOperator(token=generate_agent_token(), groups=DEMO_GROUPS) as fake:
        yield fake


@pytest.fixture
def bridge_bot(make_bot, agent):
    return make_bot(name="bridge", agent_url=agent.url, agent_token=agent.token)


@pytest.fixture
def group(bridge_bot, make_conversation):
    return make_conversation(bridge_bot, "wrDemoGroup0001", name="销售部通知群")


def _queued(conversation) -> Message:
    return accept_outbound(
        bot=conversation.bot,
        conversation_id=conversation.conversation_id,
        body=TEXT,
        source=Message.Source.API,
    )


def _worker_running_deletions() -> threading.Thread:
    def run():
        try:
            run_deletions()
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    return worker


def _delete_while_sending(agent, message, ask) -> dict:
    """Arranges that, while the agent holds the message's send, the deletion is asked for
    and a worker runs its job. What happened meanwhile goes in the dict returned."""
    seen: dict = {}

    def operator_deletes():
        job, _ = ask()
        seen["job"], seen["worker"] = job, _worker_running_deletions()
        started = DeletionJob.objects.filter(pk=job.pk, started_at__isnull=False)
        assert wait_until(started.exists, timeout=10)
        seen["deleted while sending"] = wait_until(
            lambda: not Message.objects.filter(pk=message.pk).exists(), timeout=1
        )

    agent.while_sending = operator_deletes
    return seen


def _finished(seen: dict) -> DeletionJob:
    seen["worker"].join(timeout=30)
    assert not seen["worker"].is_alive()
    job = DeletionJob.objects.get(pk=seen["job"].pk)
    assert job.status == DeletionJob.Status.DONE
    return job


@pytest.mark.django_db(transaction=True)
def test_a_send_on_the_wire_when_its_conversation_is_deleted_is_told_on_the_deletion(
    agent, group, superuser, client
):
    message = _queued(group)
    seen = _delete_while_sending(
        agent, message, lambda: request_conversation_deletion(group, superuser, via="console")
    )

    assert deliver(message.pk).result == "sent"

    assert agent.action_errors == []
    assert seen["deleted while sending"] is False  # the job waited for the outcome
    job = _finished(seen)
    assert not Message.objects.filter(pk=message.pk).exists()
    client.force_login(superuser)
    page = client.get(reverse("console:deletion", args=[job.pk])).content.decode()
    assert "删除请求提出时正在发送的 1 条消息已发出。" in page  # the console's default language
    entry = OperatorAction.objects.get(action="conversation.delete")
    assert entry.details["sends"] == {"sent": 1}


@pytest.mark.django_db(transaction=True)
def test_a_send_on_the_wire_that_fails_when_its_bot_is_deleted_is_told_on_the_deletion(
    agent, bridge_bot, group, superuser, client
):
    message = _queued(group)
    agent.behaviour.errcode = 40008  # refused: failed, not retried
    seen = _delete_while_sending(
        agent, message, lambda: request_bot_deletion(bridge_bot, superuser, via="console")
    )

    assert deliver(message.pk).result == "failed"

    assert agent.action_errors == []
    assert seen["deleted while sending"] is False
    job = _finished(seen)
    client.force_login(superuser)
    page = client.get(reverse("console:deletion", args=[job.pk])).content.decode()
    assert "删除请求提出时正在发送的 1 条消息发送失败。" in page
    entry = OperatorAction.objects.get(action="bot.delete")
    assert entry.details["sends"] == {"failed": 1}


@pytest.mark.django_db(transaction=True)
def test_a_send_still_on_the_wire_past_its_lease_is_deleted_and_its_outcome_logged(
    agent, group, superuser, settings, caplog
):
    """The job waits no longer than the lease: past it the sweeper would take the message
    back anyway. The worker's outcome then has no row to go to: the log says it."""
    message = _queued(group)
    late = timezone.now() - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT + 1)

    def operator_deletes_and_a_worker_runs_the_job():
        request_conversation_deletion(group, superuser, via="console")
        run_deletions()  # the lease ran out: it does not wait

    agent.while_sending = operator_deletes_and_a_worker_runs_the_job
    assert deliver(message.pk, clock=lambda: late).result == "sent"

    assert agent.action_errors == []
    assert not Message.objects.filter(pk=message.pk).exists()
    assert f"Message {message.pk} was deleted while sending; its outcome (sent" in caplog.text


# A sending worker's clock a few seconds off the web host's: `updated_at` is the worker's,
# `requested_at` the web host's, and they were compared.
SKEW = timedelta(seconds=5)


@pytest.mark.django_db(transaction=True)
def test_a_send_on_the_wire_is_told_on_the_deletion_when_its_workers_clock_is_behind(
    agent, group, superuser
):
    """The send ended after the deletion was asked for, but its worker's clock wrote an
    earlier time than the web host's request: it was left out."""
    message = _queued(group)
    seen = _delete_while_sending(
        agent, message, lambda: request_conversation_deletion(group, superuser, via="console")
    )

    assert deliver(message.pk, clock=lambda: timezone.now() - SKEW).result == "sent"

    assert agent.action_errors == []
    job = _finished(seen)
    assert job.sends == {"sent": 1}
    entry = OperatorAction.objects.get(action="conversation.delete")
    assert entry.details["sends"] == {"sent": 1}


@pytest.mark.django_db(transaction=True)
def test_a_send_ended_before_the_deletion_is_not_told_when_its_workers_clock_is_ahead(
    agent, bridge_bot, group, superuser
):
    """Sent before the deletion was asked for, by a worker whose clock wrote a later time
    than the web host's request: it was counted as ended meanwhile."""
    message = _queued(group)
    assert deliver(message.pk, clock=lambda: timezone.now() + SKEW).result == "sent"

    request_bot_deletion(bridge_bot, superuser, via="console")
    run_deletions()

    job = DeletionJob.objects.get()
    assert (job.status, job.sends) == (DeletionJob.Status.DONE, None)
    assert job.counts["messaging.Message"] == 1
    assert "sends" not in OperatorAction.objects.get(action="bot.delete").details


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a claim beside an open transaction: row locks"
)
@pytest.mark.django_db(transaction=True)
def test_a_send_claimed_while_the_deletion_was_being_asked_for_is_told_on_it(
    agent, bridge_bot, group, superuser
):
    """A claim that read the bot as still active and committed after the request read what
    was on the wire, its worker's last check made before the request committed: its send
    goes, and ends after the deletion was asked for."""
    message = _queued(group)
    on_the_wire, asked = threading.Event(), threading.Event()

    def agent_holds_the_send():
        on_the_wire.set()
        assert asked.wait(timeout=30)

    agent.while_sending = agent_holds_the_send
    outcome = {}

    def worker_delivers():
        try:
            outcome["result"] = deliver(message.pk).result
        finally:
            connection.close()

    worker = threading.Thread(target=worker_delivers)
    with transaction.atomic():
        request_bot_deletion(bridge_bot, superuser, via="console")
        worker.start()
        assert on_the_wire.wait(timeout=30)
    asked.set()
    worker.join(timeout=30)
    run_deletions()

    assert agent.action_errors == [] and outcome == {"result": "sent"}
    job = DeletionJob.objects.get()
    assert (job.status, job.sends) == (DeletionJob.Status.DONE, {"sent": 1})


@pytest.mark.django_db(transaction=True)
def test_a_job_asked_for_by_the_previous_release_tells_its_sends_by_time(agent, group, superuser):
    """Without the list of sends on the wire (a job the previous release queued during an
    upgrade), the sends that ended after `requested_at` are told, as before."""

    def asked_by_the_previous_release():
        job, new = request_conversation_deletion(group, superuser, via="console")
        DeletionJob.objects.filter(pk=job.pk).update(on_the_wire=None)
        return job, new

    message = _queued(group)
    seen = _delete_while_sending(agent, message, asked_by_the_previous_release)

    assert deliver(message.pk).result == "sent"

    assert agent.action_errors == []
    assert _finished(seen).sends == {"sent": 1}
