"""Every errcode the API can answer, with its HTTP status and default text.

Codes that WeCom's robot webhook also uses keep WeCom's meaning (see
shared/spec/wecom.md section 2). botadmin's own codes have seven digits and
start with 7, outside every WeCom range. docs/api.md lists this table.
"""

from dataclasses import dataclass, field
from enum import Enum


@dataclass
class ApiError(Exception):
    errcode: int
    errmsg: str
    status: int = 400
    headers: dict = field(default_factory=dict)
    # The dotted path of the field found empty or missing ("text.content"): a form marks it.
    empty_field: str = ""

    def __str__(self) -> str:
        return f"{self.errcode}: {self.errmsg}"


def errmsg_value(value: str, limit: int = 64) -> str:
    """A caller's value as an errmsg names it: its first `limit` characters ("…" when
    cut), a character that is not printable (a control character, a line break, a
    bidirectional override) written as its escape, so a log or terminal that shows the
    answer shows what was sent, not what it would do."""
    shown = value[:limit]
    escaped = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in shown
    )
    return escaped + ("…" if len(value) > limit else "")


class Err(Enum):
    # (errcode, HTTP status, default errmsg)
    SYSTEM_BUSY = (-1, 503, "system busy, retry later")
    INVALID_MEDIA_TYPE = (40004, 400, "invalid media type")
    MEDIA_NOT_AMR = (40004, 415, "invalid media type")
    INVALID_FILE_SIZE = (40006, 400, "invalid file size")
    FILE_TOO_LARGE = (40006, 413, "invalid file size")
    INVALID_MEDIA_ID = (40007, 400, "invalid media_id")
    INVALID_MSGTYPE = (40008, 400, "invalid message type")
    INVALID_PARAMETER = (40035, 400, "invalid parameter")
    FIELD_INVALID = (40058, 400, "invalid field")
    EMPTY_CONTENT = (44004, 400, "empty content")
    MEDIA_MISSING = (41006, 400, "media_id missing")
    RATE_LIMITED = (45009, 429, "api freq out of limit")
    INVALID_SECRET = (93000, 401, "invalid secret")
    # Said to a request that gave none, e.g. a robot URL's key= kept in place of secret=.
    NO_SECRET = (
        93000,
        401,
        "invalid secret: none given; send the bot's API secret as secret= in the query "
        "string or as Authorization: Bearer (WeCom's key= is not read)",
    )
    MD5_MISMATCH = (301019, 400, "media md5 does not match")
    NOT_JSON = (7000001, 400, "Warning: wrong json format.")
    BODY_TOO_LARGE = (7000002, 413, "request body too large")
    UNSUPPORTED_MEDIA_TYPE = (7000003, 415, "Content-Type must be application/json")
    JSON_TOO_DEEP = (7000004, 400, "JSON nested too deeply")
    SECRET_CONFLICT = (
        7000005,
        400,
        "two different secrets: the Authorization header and the query string (or body) disagree",
    )
    UNKNOWN_CONVERSATION = (7000101, 404, "unknown conversation_id")
    BOT_INACTIVE = (7000102, 403, "bot is inactive")
    IDEMPOTENCY_CONFLICT = (7000103, 409, "Idempotency-Key reused with a different body")
    NO_SUCH_MESSAGE = (7000104, 404, "no such message")
    NOT_CANCELLABLE = (7000105, 409, "only scheduled messages can be cancelled")
    CONVERSATION_DELETED = (7000106, 410, "conversation deleted")
    NO_SUCH_ENDPOINT = (7000404, 404, "no such endpoint")
    METHOD_NOT_ALLOWED = (7000405, 405, "method not allowed")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]

    @property
    def default_message(self) -> str:
        return self.value[2]

    def error(
        self, errmsg: str | None = None, headers: dict | None = None, *, empty_field: str = ""
    ) -> ApiError:
        return ApiError(
            self.code, errmsg or self.default_message, self.status, headers or {}, empty_field
        )
