"""What leaves for Sentry: events built by sentry_sdk itself from a real exception, scrubbed."""

# ruff: noqa: F841  (the unused locals are the point: Sentry sends a traceback's locals)

import json

import pytest
from sentry_sdk.consts import DEFAULT_OPTIONS
from sentry_sdk.utils import event_from_exception

from botadmin.logging import MASK, mask_secrets
from botadmin.sentry import scrub_event
from connectors.wecom_app_api import App


class Settings:
    """An object whose repr shows its fields quoted, as a dataclass's or a NamedTuple's does."""

    def __init__(self, **fields):
        self.fields = fields

    def __repr__(self):
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in self.fields.items()) + ")"


def secret(number: int) -> str:
    """A secret made at run time: the source lines Sentry sends do not hold it."""
    return f"S3CR3T-{number}-x"


def _event_of_a_failure_with_secrets_in_its_locals() -> dict:
    """sentry_sdk's own event for an exception: locals as it serializes them (reprs;
    the first ten of a frame)."""

    def fail():
        app = App("ww1", 1000002, secret(1), f"http://proxy:{secret(2)}@10.0.0.9:3128")
        encoding_aes_key = secret(3)
        robot_key = secret(4)
        agent_token = secret(5)
        signing_secret = "whsec_" + secret(6)
        proxy_password = secret(7)
        credentials = ("bot-1", secret(8), "wss://gw.example/")
        values = {"encoding_aes_key": secret(9), "callback_token": secret(10)}
        quoted = Settings(secret=secret(11), note='it\'s "quoted"', api_key=secret(12))
        double = Settings(token="it's " + secret(13))
        raise ValueError("failed")

    try:
        fail()
    except ValueError as error:
        event, _hint = event_from_exception(error, client_options=dict(DEFAULT_OPTIONS))
    return event


def test_secrets_in_a_tracebacks_locals_do_not_reach_sentry():
    event = _event_of_a_failure_with_secrets_in_its_locals()
    sent = event["exception"]["values"][0]["stacktrace"]["frames"][-1]["vars"]
    assert sent["robot_key"] == f"'{secret(4)}'"  # sentry_sdk sends a local's repr

    scrubbed = scrub_event(event, {})

    text = json.dumps(scrubbed)
    assert [n for n in range(1, 14) if secret(n) in text] == []
    kept = scrubbed["exception"]["values"][0]["stacktrace"]["frames"][-1]["vars"]
    assert kept["robot_key"] == MASK and kept["credentials"] == MASK
    assert "note='it\\'s \"quoted\"'" in kept["quoted"]  # not a secret: kept


@pytest.mark.parametrize(
    "text, secret",
    [
        ("App(corp_id='ww1', secret='S-1')", "S-1"),
        ('Config(token="T-2", name="x")', "T-2"),
        (r"Config(api_key='it\'s K-3')", "K-3"),
        ('Config(password="say \\"P-4\\" twice")', "P-4"),
        ("    signing_secret = 'whsec_S-5'", "whsec_S-5"),
        ("{'encoding_aes_key': 'A-6'}", "A-6"),
    ],
)
def test_quoted_values_of_secret_names_are_masked(text, secret):
    masked = mask_secrets(text)
    assert secret not in masked and MASK in masked


def test_names_that_are_not_secret_keep_their_quoted_values():
    assert mask_secrets("Bot(name='acme', corp_id='ww1')") == "Bot(name='acme', corp_id='ww1')"


def test_an_apps_repr_holds_neither_its_secret_nor_its_proxy_password():
    app = App("ww1", 1000002, "APP-SECRET", "http://proxy:PROXY-PW@10.0.0.9:3128")
    assert repr(app) == "App(corp_id='ww1', agent_id=1000002)"
