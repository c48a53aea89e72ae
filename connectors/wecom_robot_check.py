"""Do a group robot's groups' keys still answer? "Test the connection" and the contact sync.

A bot may have thousands of groups, each with its own key, which one after the other
took minutes; so both ask PARALLEL keys at a time within a time budget (`probe_keys`).

* "Test the connection" (`check_keys`): an operator waits for this answer in the
  request, so it asks about a random sample of at most SAMPLE groups within
  BOTADMIN_ROBOT_KEY_CHECK_SECONDS and says how many of how many it asked about.
* The contact sync (`check_groups`, through `Connector.check_contacts`) asks about
  every group within BOTADMIN_ROBOT_KEY_SYNC_SECONDS, in the background with its
  progress on the bot page. Only WeCom saying the robot is gone (93000 invalid webhook
  url, 93004 / 93008) deactivates a group; a busy robot (45009), a network failure,
  any other answer or the budget running out leaves the group as it was, counted as
  not checked this time (`conversations.sync`).

Asking posts nothing (`WeComRobotConnector.probe_key`: a request with an unknown
msgtype, refused before anything is sent), and each key is asked once per test,
far below WeCom's 20 messages a minute per robot.

The answer is one flat reason, whatever the number of groups: how many keys failed
of how many were asked about, and the first few failing groups by name; when no key
could be asked about at all for one reason (WeCom unreachable), that reason alone. Each
key asked about gets its verdict too (`KeyChecks.checks`, the contact sync's alike),
which the bot page's key table shows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import requests
from django.conf import settings
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.http_failures import failure_reason
from botadmin.reasons import Reason, ngettext_noop

from .base import ConnectorError, ContactCheck

logger = logging.getLogger(__name__)

# Groups asked about per test, and how many at once.
SAMPLE = 20
PARALLEL = 10
# Failing groups named in the answer, each name cut to NAME_CHARS.
EXAMPLES = 3
NAME_CHARS = 60
# Past the check's seconds, how long more a probe has to say how its request ended.
GRACE_SECONDS = 0.5
# The answer to a probe's unknown msgtype (the key works), and the answers that mean
# the group's robot is gone: invalid webhook url, disabled, not in the group (wecom.md §2).
KEY_OK_ERRCODE = 40008
ROBOT_KEY_GONE_ERRCODES = frozenset({93000, 93004, 93008})

KEY_PROBLEM = gettext_noop("%(group)s: %(problem)s")
NO_ANSWER_IN_TIME = gettext_noop("no answer within %(seconds)s s")
UNEXPECTED = gettext_noop(
    "the check failed unexpectedly (%(error)s; the server's log has the details)"
)
# The failing groups named, by their number.
NAMED = {
    2: gettext_noop("%(first)s; %(second)s"),
    3: gettext_noop("%(first)s; %(second)s; %(third)s"),
}
# Counted by the keys asked about: "1 of 1 robot key failed", "2 of 20 robot keys failed".
ALL_FAILED_NAMED = ngettext_noop(
    "%(failed)s of %(checked)s robot key failed: %(groups)s",
    "%(failed)s of %(checked)s robot keys failed: %(groups)s",
    "checked",
)
SOME_FAILED_NAMED = ngettext_noop(
    "%(failed)s of %(checked)s robot key failed, e.g. %(groups)s",
    "%(failed)s of %(checked)s robot keys failed, e.g. %(groups)s",
    "checked",
)
ALL_ANSWER = ngettext_noop("%(count)s robot key answers", "%(count)s robot keys answer", "count")
SAMPLED = gettext_noop(
    "%(result)s (%(checked)s of the %(total)s groups, picked at random; "
    "a contact sync checks every group)"
)

# No key could be asked about, all for one reason (WeCom unreachable): that reason alone.
NOT_CHECKED = gettext_noop("cannot check the robot keys: %(reason)s")

ANSWERED = gettext_noop("WeCom answered errcode %(errcode)s to a key check")
ROBOT_GONE = gettext_noop(
    "WeCom says the robot is gone (errcode %(errcode)s): removed, disabled or no longer in "
    "the group"
)

Probe = Callable[[str, float], int]  # (robot key, seconds left) → WeCom's errcode
# What asking about a key gave: WeCom's errcode, or why there is none (a Reason).
Answer = int | str


@dataclass(frozen=True)
class KeyChecks:
    """What "Test the connection" found: its answer, whether every key asked about works,
    and the verdict on each."""

    reason: Reason
    ok: bool
    checks: list[ContactCheck]


def check_keys(conversations, probe: Probe, ok_errcode: int) -> KeyChecks:
    """Ask about a sample of `conversations` (active, with a robot key) with `probe`:
    the answer naming how many failed and the first few, or that all answer. Raises
    ConnectorError when there is no key to ask about."""
    total = conversations.count()
    if not total:
        raise ConnectorError(Reason(gettext_noop("no active conversation has a robot key")))
    fields = ("conversation_id", "name", "robot_key")
    if total > SAMPLE:
        conversations = conversations.order_by("?")
    groups = sorted(conversations.only(*fields)[:SAMPLE], key=_name)
    seconds = settings.BOTADMIN_ROBOT_KEY_CHECK_SECONDS
    answers = dict(probe_keys(groups, probe, seconds))
    checks = [verdict(group, answers[group], ok_errcode) for group in groups]
    problems = [(group, _problem(answers[group], ok_errcode)) for group in groups]
    failed = [Reason(KEY_PROBLEM, group=_name(g), problem=p) for g, p in problems if p]
    unasked = {str(check.reason) for check in checks if check.works is None}
    if len(unasked) == 1 and all(check.works is None for check in checks):
        result = Reason(NOT_CHECKED, reason=checks[0].reason)
    elif failed:
        result = _failures(failed, len(groups))
    else:
        result = Reason(ALL_ANSWER, count=len(groups))
    if total > len(groups):
        result = Reason(SAMPLED, result=result, checked=len(groups), total=total)
    return KeyChecks(result, not failed, checks)


def check_groups(groups: Sequence, probe: Probe) -> Iterator[ContactCheck]:
    """The contact sync's verdict on each group (with a robot key), as the answers come,
    all within BOTADMIN_ROBOT_KEY_SYNC_SECONDS: works, gone, or not known this time."""
    for group, answer in probe_keys(groups, probe, settings.BOTADMIN_ROBOT_KEY_SYNC_SECONDS):
        yield verdict(group, answer, KEY_OK_ERRCODE)


def verdict(group, answer: Answer, ok_errcode: int) -> ContactCheck:
    """What asking about a group's key says of it: works, gone (only WeCom saying so), or
    not known this time (a network failure, out of time, 45009 too fast, -1 busy: asked
    again by the next sync), with why."""
    if answer == ok_errcode:
        return ContactCheck(group, True)
    if isinstance(answer, str):
        return ContactCheck(group, None, answer)
    if answer in ROBOT_KEY_GONE_ERRCODES:
        return ContactCheck(group, False, Reason(ROBOT_GONE, errcode=answer))
    return ContactCheck(group, None, Reason(ANSWERED, errcode=answer))


def probe_keys(groups: Sequence, probe: Probe, seconds: float) -> Iterator[tuple[object, Answer]]:
    """Each group with what asking about its key gave, PARALLEL at a time, in the order
    the answers come; a key with no answer within `seconds` gets "no answer within"."""
    if not groups:
        return
    until = time.monotonic() + seconds
    late = Reason(NO_ANSWER_IN_TIME, seconds=f"{seconds:g}")

    def ask(key: str) -> Answer:
        left = until - time.monotonic()
        if left <= 0:
            return late
        try:
            return probe(key, left)
        except ConnectorError as error:
            return reasons.of(error)
        except requests.RequestException as error:
            return failure_reason(error)
        except Exception as error:  # one group's odd failure is its verdict, not a crash
            logger.exception("robot key check: unexpected failure")
            return Reason(UNEXPECTED, error=type(error).__name__)

    # Not a `with` block: that would wait for a probe still running past the deadline.
    pool = ThreadPoolExecutor(min(PARALLEL, len(groups)), thread_name_prefix="robot-key-check")
    try:
        waiting = {pool.submit(ask, group.robot_key): group for group in groups}
        try:
            # A probe's request ends by `until` (its deadline), though not its host's lookup.
            for future in as_completed(list(waiting), timeout=seconds + GRACE_SECONDS):
                yield waiting.pop(future), future.result()
        except TimeoutError:
            pass
        for future, group in waiting.items():
            yield group, future.result() if future.done() and not future.cancelled() else late
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _problem(answer: Answer, ok_errcode: int) -> str | None:
    """What is wrong with a key given its answer (None when it is `ok_errcode`)."""
    if isinstance(answer, str):
        return answer
    return None if answer == ok_errcode else str(answer)


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
