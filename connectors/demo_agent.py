"""A real agent speaking the bridge protocol (docs/bridge-protocol.md), without WeCom.

It is the demo bot's agent in `make run` (`manage.py demo_agent`) and the fake
agent of the tests. It follows the protocol: bearer token, `/send` idempotent
by message id, paginated `/users` and `/groups`, `/capabilities` (section 5:
it sends markdown, file and voice too, so the documentation's examples, uploads by
/api/upload_media among them, arrive as they are; pass `msgtypes=None` for a v1 agent
without the endpoint), `/media` (section 6: the
bytes of a received image; `serves_media=False` for an agent without it), and
inbound messages posted to botadmin's `/api/callback`. Switches on `AgentBehaviour` simulate what real
agents do on a bad day.

    agent = DemoAgent(token="…", users=[…], groups=[…]).start()
    agent.url                       # http://127.0.0.1:PORT
    agent.behaviour.delay = 2       # slow
    agent.behaviour.errcode = 45009 # answer every send with this errcode
    agent.go_down(); agent.come_back()
    agent.sent                      # messages really "sent", one per id
    DemoAgent(token="…", remember=10_000)  # only the newest sends and requests (`make run`)
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field

import requests

from botadmin.local_http import Answer, LocalServer, Request

logger = logging.getLogger(__name__)


@dataclass
class AgentBehaviour:
    delay: float = 0.0  # seconds before answering
    errcode: int | None = None  # answer sends with this errcode (HTTP 200)
    errcode_times: int | None = None  # …only this many times, then behave again
    http_status: int | None = None  # answer sends with this HTTP status
    retry_after: str | None = None  # …and this Retry-After header (seconds or an HTTP-date)
    non_json: bool = False  # answer sends with a body that is not JSON
    raw_answer: tuple[int, bytes] | None = None  # answer sends with this status and body
    fail_contacts_on_page: int | None = None  # 1-based page of /users or /groups that answers 500
    page_size: int = 50
    media_status: int | None = None  # answer /media with this HTTP status (e.g. 503)
    media_delay: float = 0.0  # seconds before answering /media (a slow media source)


@dataclass
class SentMessage:
    id: str
    body: dict
    msgid: str
    at: float
    number: int = 0  # the agent's count of sends, this one's: newer ones have higher


# What the demo agent announces at GET /capabilities.
DEMO_MSGTYPES = ("text", "markdown", "link", "image", "miniprogram", "file", "voice")
# What an agent without /capabilities sends (the protocol's v1 set).
V1_MSGTYPES = ("text", "link", "image", "miniprogram")


class DemoAgent(LocalServer):
    def __init__(
        self,
        *,
        token: str,
        users: list[dict] | None = None,
        groups: list[dict] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        msgtypes: tuple[str, ...] | None = DEMO_MSGTYPES,
        serves_media: bool = True,
        remember: int | None = None,
    ):
        super().__init__(host=host, port=port)
        self.token = token
        # None: a v1 agent, whose /capabilities answers 404.
        self.msgtypes = msgtypes
        self.users = list(users or [])
        self.groups = list(groups or [])
        self.behaviour = AgentBehaviour()
        self.sent: dict[str, SentMessage] = {}  # id → what was sent, once per id
        self.send_requests: list[dict] = []  # every /send body received, repeats included
        self.contact_requests: list[str] = []
        # False: an agent older than /media, which answers it 404 like any unknown path.
        self.serves_media = serves_media
        self.media: dict[str, tuple[bytes, str]] = {}  # cdn → (bytes, content type)
        self.media_requests: list[dict] = []
        # How many sends (the newest) it knows by id, and requests it keeps: `make run`'s
        # agent runs for weeks, and kept every one (a leak the soak bench showed). A
        # repeat of a forgotten id is sent again. None: all, as the tests read them.
        self.remember = remember
        self._lock = threading.Lock()
        self._msgids = itertools.count(1)

    # --- lifecycle -------------------------------------------------------------
    go_down = LocalServer.stop

    def come_back(self) -> None:
        self.start()

    @property
    def url(self) -> str:
        return LocalServer.url(self)

    # --- protocol ---------------------------------------------------------------
    def _answer_send(self, body: dict) -> tuple[int, dict | bytes]:
        behaviour = self.behaviour
        with self._lock:
            self.send_requests.append(body)
            message_id = str(body.get("id") or "")
            if message_id in self.sent:  # a repeat: same answer, not sent again
                return 200, {"errcode": 0, "errmsg": "ok", "msgid": self.sent[message_id].msgid}
            if behaviour.http_status:
                return behaviour.http_status, {"errcode": -1, "errmsg": "agent error"}
            if behaviour.non_json:
                return 200, b"<html>proxy error</html>"
            if behaviour.raw_answer:
                return behaviour.raw_answer
            if behaviour.errcode is not None and behaviour.errcode_times != 0:
                if behaviour.errcode_times:
                    behaviour.errcode_times -= 1
                return 200, {
                    "errcode": behaviour.errcode,
                    "errmsg": f"simulated errcode {behaviour.errcode}",
                }
            if not message_id or not isinstance(body.get("conversation_id"), str):
                return 200, {
                    "errcode": 40035,
                    "errmsg": "invalid parameter: id and conversation_id",
                }
            if body.get("msgtype") not in (self.msgtypes or V1_MSGTYPES):
                return 200, {
                    "errcode": 40008,
                    "errmsg": f"invalid message type {body.get('msgtype')}",
                }
            number = next(self._msgids)
            msgid = f"demo-{number}"
            self.sent[message_id] = SentMessage(message_id, body, msgid, time.time(), number)
        logger.info("demo agent sent %s to %s", body.get("msgtype"), body.get("conversation_id"))
        return 200, {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def _forget_oldest(self) -> None:
        """Past `remember`, the oldest sends and requests go."""
        if self.remember is None:
            return
        with self._lock:
            while len(self.sent) > self.remember:
                del self.sent[next(iter(self.sent))]
            for kept in (self.send_requests, self.contact_requests, self.media_requests):
                if len(kept) > self.remember:
                    del kept[: len(kept) - self.remember]

    def _answer_contacts(self, kind: str, cursor: str | None) -> tuple[int, dict]:
        contacts = self.users if kind == "users" else self.groups
        size = self.behaviour.page_size
        try:
            offset = int(cursor or 0)
        except ValueError:
            return 400, {"errcode": 40035, "errmsg": "bad cursor"}
        page_number = offset // size + 1
        self.contact_requests.append(f"{kind}:{page_number}")
        if self.behaviour.fail_contacts_on_page == page_number:
            return 500, {"errcode": -1, "errmsg": "simulated failure"}
        page = contacts[offset : offset + size]
        next_cursor = str(offset + size) if offset + size < len(contacts) else None
        return 200, {"errcode": 0, "errmsg": "ok", "data": page, "next_cursor": next_cursor}

    def _answer_media(self, body: dict) -> Answer:
        self.media_requests.append(body)
        time.sleep(self.behaviour.media_delay)  # on this request's thread: sends stay quick
        if self.behaviour.media_status:
            return Answer(self.behaviour.media_status, {"errcode": -1, "errmsg": "agent busy"})
        cdn = str(body.get("cdn") or "")
        found = self.media.get(cdn) or demo_image(cdn)
        if found is None:
            return Answer(404, {"errcode": 404, "errmsg": "media not found"})
        content, content_type = found
        return Answer(200, content, {"Content-Type": content_type})

    def handle(self, request: Request) -> Answer:
        try:
            return self._answer(request)
        finally:
            self._forget_oldest()

    def _answer(self, request: Request) -> Answer:
        # Every answer waits `behaviour.delay` (a slow agent).
        self.delay = self.behaviour.delay
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Answer(401, {"errcode": 401, "errmsg": "bad token"})
        if request.method == "POST":
            if request.path not in ("/send", "/media") or (
                request.path == "/media" and not self.serves_media
            ):
                return Answer(404, {"errcode": 404, "errmsg": "not found"})
            try:
                body = json.loads(request.body)
            except ValueError:
                return Answer(200, {"errcode": 40035, "errmsg": "wrong json format"})
            body = body if isinstance(body, dict) else {}
            if request.path == "/media":
                return self._answer_media(body)
            status, answer = self._answer_send(body)
            retry_after = self.behaviour.retry_after
            busy = retry_after and status == self.behaviour.http_status
            return Answer(status, answer, {"Retry-After": retry_after} if busy else {})
        if request.path == "/capabilities" and self.msgtypes is not None:
            return Answer(200, {"errcode": 0, "errmsg": "ok", "msgtypes": list(self.msgtypes)})
        kind = request.path.strip("/")
        if kind not in ("users", "groups"):
            return Answer(404, {"errcode": 404, "errmsg": "not found"})
        return Answer(*self._answer_contacts(kind, request.query.get("cursor")))


DEMO_IMAGE = re.compile(r"demo/images/(\d{1,9})\.jpg")


def demo_image(cdn: str) -> tuple[bytes, str] | None:
    """The picture behind one of the demo's image references: a coloured JPEG of its own."""
    match = DEMO_IMAGE.fullmatch(cdn)
    if match is None:
        return None
    from PIL import Image, ImageDraw

    n = int(match.group(1))
    image = Image.new("RGB", (480, 320), ((n * 67) % 256, (n * 131) % 256, (n * 29) % 256))
    ImageDraw.Draw(image).text((20, 20), f"demo image {n}", fill="white")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue(), "image/jpeg"


# --- inbound traffic for the demo ---------------------------------------------

SAMPLE_TEXTS = [
    "你好，请问今天的订单什么时候发货？",
    "收到，谢谢！",
    "麻烦把上周的报价单再发我一份",
    "明天上午十点开会，大家准时参加",
    "退款已经处理了吗？",
]


@dataclass
class InboundPoster:
    """Posts realistic inbound messages of every seed msgtype to botadmin's callback."""

    callback_url: str
    secret: str
    users: list[dict]
    groups: list[dict]
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def sample(self, msgtype: str | None = None) -> dict:
        kind = random.choice(["user", "group"])
        conversation = random.choice(self.users if kind == "user" else self.groups)
        # In a private chat only that user writes; in a group anyone may.
        sender = conversation if kind == "user" else random.choice(self.users)
        msgtype = msgtype or random.choice(["text", "text", "text", "image", "link", "miniprogram"])
        n = next(self.counter)
        body = {
            "secret": self.secret,
            "msgtype": msgtype,
            "conversation_id": conversation["conversation_id"],
            "conversation_type": kind,
            "conversation_name": conversation["name"],
            "sender": sender["conversation_id"],
            "sender_name": sender["name"],
            "msgid": f"demo-in-{int(time.time())}-{n}",
            "timestamp": int(time.time()),
        }
        body[msgtype] = {
            "text": lambda: {"content": random.choice(SAMPLE_TEXTS)},
            "image": lambda: {"cdn_type": "wecom_cdn", "cdn": f"demo/images/{n}.jpg"},
            "link": lambda: {"title": "本周产品更新说明", "url": "https://example.com/updates"},
            "miniprogram": lambda: {
                "appicon": "https://example.com/icon.png",
                "appid": "wx1234567890abcdef",
                "appname": "示例商城",
                "page_path": "pages/order/detail?id=42",
                "title": "您的订单详情",
            },
        }[msgtype]()
        return body

    def reply_to(self, sent: SentMessage) -> dict:
        body = self.sample("text")
        conversation_id = sent.body.get("conversation_id", body["conversation_id"])
        body["conversation_id"] = conversation_id
        user = next((u for u in self.users if u["conversation_id"] == conversation_id), None)
        if user is not None:
            body["sender"], body["sender_name"] = user["conversation_id"], user["name"]
        body.pop("conversation_type", None)
        body.pop("conversation_name", None)
        quoted = ((sent.body.get("text") or {}).get("content") or sent.body.get("msgtype", ""))[:30]
        body["text"] = {"content": f"收到：{quoted}"}
        return body

    def post(self, body: dict) -> bool:
        try:
            response = requests.post(self.callback_url, json=body, timeout=5)
        except requests.RequestException as error:
            logger.warning("demo agent: callback unreachable (%s)", error.__class__.__name__)
            return False
        if response.status_code != 200 or response.json().get("errcode") != 0:
            logger.warning("demo agent: callback answered %s", response.status_code)
            return False
        return True
