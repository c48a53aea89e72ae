"""A group robot's "Test the connection": do its groups' robot keys answer?

An operator waits for this answer in the request, and a bot may have thousands of
groups (each with its own key), which one after the other took minutes. So it asks
about a random sample of at most SAMPLE groups, a few at a time, all within
BOTADMIN_ROBOT_KEY_CHECK_SECONDS, and says how many of how many it asked about; the
contact sync asks about every group in the background, with its progress on the bot
page, and deactivates those whose robot is gone (`conversations.sync`).

Asking posts nothing (`WeComRobotConnector.probe_key`: a request with an unknown
msgtype, refused before anything is sent), and each key is asked once per test,
far below WeCom's 20 messages a minute per robot.

The answer is one flat reason, whatever the number of groups: how many keys failed
of how many were asked about, and the first few failing groups by name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import requests
from django.conf import settings
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.http_failures import failure_reason
from botadmin.reasons import Reason

from .base import ConnectorError

logger = logging.getLogger(__name__)

# Groups asked about per test, and how many at once.
SAMPLE = 20
PARALLEL = 10
# Failing groups named in the answer, each name cut to NAME_CHARS.
EXAMPLES = 3
NAME_CHARS = 60
# Past the check's seconds, how long more a probe has to say how its request ended.
GRACE_SECONDS = 0.5

KEY_PROBLEM = gettext_noop("%(group)s: %(problem)s")
NO_ANSWER_IN_TIME = gettext_noop("no answer within %(seconds)s s")
# The failing groups named, by their number.
NAMED = {
    2: gettext_noop("%(first)s; %(second)s"),
    3: gettext_noop("%(first)s; %(second)s; %(third)s"),
}
ALL_FAILED_NAMED = gettext_noop("%(failed)s of %(checked)s robot key(s) failed: %(groups)s")
SOME_FAILED_NAMED = gettext_noop("%(failed)s of %(checked)s robot key(s) failed, e.g. %(groups)s")
ALL_ANSWER = gettext_noop("%(count)s robot key(s) answer")
SAMPLED = gettext_noop(
    "%(result)s (%(checked)s of the %(total)s groups, picked at random; "
    "a contact sync checks every group)"
)

Probe = Callable[[str, float], int]  # (robot key, seconds left) → WeCom's errcode


def check_keys(conversations, probe: Probe, ok_errcode: int) -> Reason:
    """Ask about a sample of `conversations` (active, with a robot key) with `probe`;
    the answer when every key asked about answers, else raises ConnectorError naming
    how many failed and the first few."""
    total = conversations.count()
    if not total:
        raise ConnectorError(Reason(gettext_noop("no active conversation has a robot key")))
    fields = ("conversation_id", "name", "robot_key")
    if total > SAMPLE:
        conversations = conversations.order_by("?")
    groups = sorted(conversations.only(*fields)[:SAMPLE], key=_name)
    problems = _probe_all(groups, probe, ok_errcode)
    failed = [Reason(KEY_PROBLEM, group=_name(g), problem=p) for g, p in problems if p]
    if failed:
        result = _failures(failed, len(groups))
    else:
        result = Reason(ALL_ANSWER, count=len(groups))
    if total > len(groups):
        result = Reason(SAMPLED, result=result, checked=len(groups), total=total)
    if failed:
        raise ConnectorError(result)
    return result


def _probe_all(groups: list, probe: Probe, ok_errcode: int) -> list[tuple[object, str | None]]:
    """Each group with what is wrong with its key (None when it answers), all asked about
    within BOTADMIN_ROBOT_KEY_CHECK_SECONDS."""
    seconds = settings.BOTADMIN_ROBOT_KEY_CHECK_SECONDS
    until = time.monotonic() + seconds
    late = Reason(NO_ANSWER_IN_TIME, seconds=f"{seconds:g}")

    def ask(key: str) -> str | None:
        left = until - time.monotonic()
        if left <= 0:
            return late
        try:
            errcode = probe(key, left)
        except ConnectorError as error:
            return reasons.of(error)
        except requests.RequestException as error:
            return failure_reason(error)
        except Exception as error:  # one group's odd failure is its verdict, not a 500
            logger.exception("robot key check: unexpected failure")
            return f"{type(error).__name__}: {error}"
        return None if errcode == ok_errcode else str(errcode)

    # Not a `with` block: that would wait for a probe still running past the deadline.
    pool = ThreadPoolExecutor(min(PARALLEL, len(groups)), thread_name_prefix="robot-key-check")
    try:
        futures = [pool.submit(ask, group.robot_key) for group in groups]
        # A probe's request ends by `until` (its deadline), though not its host's lookup.
        wait(futures, timeout=seconds + GRACE_SECONDS)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [
        (group, future.result() if future.done() and not future.cancelled() else late)
        for group, future in zip(groups, futures, strict=True)
    ]


def _failures(failed: list[Reason], checked: int) -> Reason:
    """How many failed of how many, with the first EXAMPLES of them."""
    named = failed[:EXAMPLES]
    if len(named) == 1:
        groups = named[0]
    else:
        names = ("first", "second", "third")[: len(named)]
        groups = Reason(NAMED[len(named)], **dict(zip(names, named, strict=True)))
    wording = ALL_FAILED_NAMED if len(failed) <= EXAMPLES else SOME_FAILED_NAMED
    return Reason(wording, failed=len(failed), checked=checked, groups=groups)


def _name(conversation) -> str:
    return (conversation.name or conversation.conversation_id)[:NAME_CHARS]
