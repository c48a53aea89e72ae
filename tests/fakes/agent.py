"""The fake agent (connectors.demo_agent, a real bridge-protocol server on 127.0.0.1), and an
operator who acts while a send is on the wire.

    agent.while_sending = lambda: operator_actions.cancel(user, announcement)
    deliver(message.pk)   # the agent takes the send, the operator cancels, the agent answers

The action runs once, on the agent's request thread after the agent handled the send
(it "went out", or was refused as `behaviour` says) and before it answers; its database
connection is that thread's own (the test needs `transaction=True`). An exception it
raises is kept in `action_errors`, for the test to check.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection

from connectors.demo_agent import DemoAgent


class AgentWithOperator(DemoAgent):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.while_sending: Callable[[], object] | None = None
        self.action_errors: list[BaseException] = []

    def _answer_send(self, body: dict):
        answer = super()._answer_send(body)
        action, self.while_sending = self.while_sending, None
        if action is not None:
            try:
                action()
            except Exception as error:  # the test's own to report
                self.action_errors.append(error)
            finally:
                connection.close()
        return answer
