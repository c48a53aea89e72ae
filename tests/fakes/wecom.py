"""A fake WeCom group-robot API: a real HTTP server on 127.0.0.1 (shared/spec/wecom.md §1).

with FakeWeCom(keys={"k1"}) as wecom:
    settings.WECOM_API_BASE = wecom.base_url
    wecom.messages             # [(key, body)] of every message it accepted ("posted")
    wecom.requests             # every request, accepted or not
    wecom.answer_next(-1)      # the next send is refused with this errcode
    wecom.answer_key["k1"] = 45009  # every send to this key is refused with this errcode
    wecom.cut_keys.add("k1")   # every send to this key has its connection cut, unanswered
    wecom.think = 0.2          # seconds each send takes before it is answered
    wecom.most_at_once         # the most sends it was answering at the same time
    wecom.drop_next = 1        # the next send is accepted, then the connection is cut
    wecom.uploads              # [(key, type, filename, bytes)] of every upload_media accepted
    wecom.media                # media_id → (bytes, type, expiry, key); clear() forgets them early
    wecom.answer_next_upload(-1)   # the next upload_media is refused with this errcode

Behaviour as documented: HTTP 200 always; unknown key → 93000; malformed JSON
→ "Warning: wrong json format."; 45009 after 20 messages a minute per key;
size limits (text 2048 bytes, markdown 4096, image 2 MB JPG/PNG with md5,
news 1–8 articles with title and url, notice template cards whose card_action opens
a page or a mini program (42045 "Template_Card card_action Missing or Invalid" otherwise,
as WeCom answers), a text_notice with main_title.title or sub_title_text, a news_notice
with a card_image or an image_text_area, and without the fields of clickable cards,
`action_menu` and `task_id`, which the robot's template card documentation (documents
91770 / 99110) does not list); unknown msgtype → 40008. upload_media (`type` file or voice): a multipart part
`media` with a file name, more than 5 bytes, a file ≤ 20 MB, a voice ≤ 2 MB of
AMR of at most 60 s; answers type, media_id and created_at (a string); a media_id lives 3
days, and `file` / `voice` messages name one of their type that the same robot uploaded
(40007 otherwise: WeCom's upload_media document says only the robot that uploaded a
media_id may use it). The errcodes of
a bad upload (40006 size, 40004 type, 41006 no media part) are wecom.md
section 2's; which one WeCom gives for a missing file name is not documented
(the fake says 41006 too), nor for a voice over 60 s (the fake says 40058), nor for
a card with an `action_menu` or a `task_id`, a text_notice without words or a news_notice
without a picture (the fake says 40035, "invalid parameter: template_card.<field>", as for
its other card refusals).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import secrets
import threading
import time
from collections import defaultdict, deque

from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header

from botadmin.local_http import Answer, LocalServer, Request

PER_MINUTE = 20
TEXT_MAX = 2048
MARKDOWN_MAX = 4096
IMAGE_MAX = 2 * 1024 * 1024
FILE_MAX = 20 * 1024 * 1024
VOICE_MAX = 2 * 1024 * 1024
MEDIA_MIN = 6  # "> 5 bytes"
MEDIA_LIFETIME = 3 * 24 * 3600
AMR_MAGIC = b"#!AMR\n"
VOICE_MAX_SECONDS = 60


class FakeWeCom(LocalServer):
    keep_alive = False  # each request on its own connection

    def __init__(self, keys: set[str] | None = None, per_minute: int = PER_MINUTE):
        super().__init__()
        self.keys = set(keys or ())
        self.per_minute = per_minute
        self.messages: list[tuple[str, dict]] = []
        self.requests: list[tuple[str, bytes]] = []
        self.drop_next = 0
        self.uploads: list[tuple[str, str, str, bytes]] = []
        self.media: dict[str, tuple[bytes, str, float, str]] = {}
        self._forced: list[int] = []
        self.answer_key: dict[str, int] = {}
        self.cut_keys: set[str] = set()
        self.think = 0.0
        self.most_at_once = 0
        self._at_once = 0
        self._forced_uploads: list[int] = []
        self._sent_at: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url()

    def answer_next(self, *errcodes: int) -> None:
        self._forced.extend(errcodes)

    def answer_next_upload(self, *errcodes: int) -> None:
        self._forced_uploads.extend(errcodes)

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages

    # --- the robot's rules -------------------------------------------------

    def answer(self, key: str, raw: bytes) -> tuple[int, str]:
        with self._lock:
            self.requests.append((key, raw))
            if key not in self.keys:
                return 93000, f"invalid webhook url, hint: [{time.time_ns()}], from ip: 127.0.0.1"
            if self._forced:
                return self._forced.pop(0), "forced by the test"
            if key in self.answer_key:
                return self.answer_key[key], FORCED_ERRMSG.get(self.answer_key[key], "forced")
            try:
                body = json.loads(raw)
                msgtype = body["msgtype"]
            except (ValueError, KeyError, TypeError):
                return 40035, "Warning: wrong json format. invalid json"
            errcode, errmsg = check_body(msgtype, body, self.media, key)
            if errcode:
                return errcode, errmsg
            window = self._sent_at[key]
            now = time.monotonic()
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= self.per_minute:
                return 45009, "api freq out of limit"
            window.append(now)
            self.messages.append((key, body))
            return 0, "ok"

    def answer_slowly(self, key: str, raw: bytes) -> tuple[int, str]:
        """`answer`, taking `think` seconds, counting the sends answered at the same time."""
        with self._lock:
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            if self.think:
                time.sleep(self.think)
            return self.answer(key, raw)
        finally:
            with self._lock:
                self._at_once -= 1

    def upload(self, request: Request) -> dict:
        key = request.query.get("key", "")
        with self._lock:
            self.requests.append((key, request.body))
            if key not in self.keys:
                return _error(93000, "invalid webhook url, hint: [1], from ip: 127.0.0.1")
            if self._forced_uploads:
                return _error(self._forced_uploads.pop(0), "forced by the test")
            kind = request.query.get("type", "")
            if kind not in ("file", "voice"):
                return _error(40004, "invalid media type")
            content, filename = media_part(request)
            if content is None or not filename:
                return _error(41006, "media data missing")
            if len(content) < MEDIA_MIN or len(content) > (
                FILE_MAX if kind == "file" else VOICE_MAX
            ):
                return _error(40006, "invalid file size")
            if kind == "voice" and not content.startswith(AMR_MAGIC):
                return _error(40004, "invalid media type")
            if kind == "voice" and amr_frames(content) > VOICE_MAX_SECONDS * 50:
                return _error(40058, "invalid parameter: voice longer than 60 s")
            media_id = "3" + secrets.token_urlsafe(32)
            self.media[media_id] = (content, kind, time.time() + MEDIA_LIFETIME, key)
            self.uploads.append((key, kind, filename, content))
            return {
                "errcode": 0,
                "errmsg": "ok",
                "type": kind,
                "media_id": media_id,
                "created_at": str(int(time.time())),
            }

    def handle(self, request: Request) -> Answer:
        if request.method == "POST" and request.path == "/cgi-bin/webhook/upload_media":
            return Answer(200, self.upload(request), JSON)
        if request.method != "POST" or request.path != "/cgi-bin/webhook/send":
            return Answer(404, b"not found")
        key = request.query.get("key", "")
        if key in self.cut_keys:
            with self._lock:
                self.requests.append((key, request.body))
            return Answer(drop=True)  # a network failure: no answer at all
        errcode, errmsg = self.answer_slowly(key, request.body)
        if self.drop_next and errcode == 0:
            self.drop_next -= 1
            return Answer(drop=True)  # posted, but the answer never arrives
        return Answer(200, _error(errcode, errmsg), JSON)


JSON = {"Content-Type": "application/json; charset=UTF-8"}
# The errmsg WeCom gives with an errcode a test forces on a key (wecom.md section 2).
FORCED_ERRMSG = {
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    -1: "system busy",
}
MSGTYPES = ("text", "markdown", "markdown_v2", "image", "news", "template_card", "file", "voice")
# Template card fields of the app and AI bot APIs, for clicks a robot has no callback for.
CLICKABLE_CARD_FIELDS = ("action_menu", "task_id")
# What the robot answers to a notice card whose card_action is missing or opens nothing
# (type 0 or none, or type 1 / 2 without its url / appid).
CARD_ACTION_ERRCODE = 42045


def card_action_errmsg() -> str:
    return (
        f"Template_Card card_action Missing or Invalid, hint: [{time.time_ns()}], "
        "from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=42045"
    )


def _error(errcode: int, errmsg: str) -> dict:
    return {"errcode": errcode, "errmsg": errmsg}


def amr_frames(content: bytes) -> int:
    """The 20 ms frames of AMR-NB bytes (RFC 4867 section 5: a frame's type gives its size)."""
    sizes = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)
    frames, position = 0, len(AMR_MAGIC)
    while position < len(content):
        position += sizes[(content[position] >> 3) & 0x0F]
        frames += position <= len(content)
    return frames


def media_part(request: Request) -> tuple[bytes | None, str]:
    """The bytes and file name of the multipart part `media`; (None, "") without one."""
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    kind, options = parse_options_header(content_type)
    if kind != "multipart/form-data" or not options.get("boundary"):
        return None, ""
    try:
        _, files = MultiPartParser().parse(
            io.BytesIO(request.body), options["boundary"].encode(), len(request.body)
        )
    except ValueError:
        return None, ""
    media = files.get("media")
    if media is None:
        return None, ""
    return media.read(), media.filename or ""


def _opens_something(action) -> bool:
    """A notice card's card_action: type 1 with a url or 2 with an appid ("取值范围为[1,2]")."""
    if not isinstance(action, dict):
        return False
    target = {1: "url", 2: "appid"}.get(action.get("type"))
    return target is not None and bool(action.get(target))


def _words(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def check_card(card: dict) -> tuple[int, str]:
    """A notice card as the robot's template card documentation has it."""
    card_type = card.get("card_type")
    if card_type not in ("text_notice", "news_notice"):
        return 40035, "invalid parameter: template_card.card_type"
    if not _opens_something(card.get("card_action")):
        return CARD_ACTION_ERRCODE, card_action_errmsg()
    for field in CLICKABLE_CARD_FIELDS:
        if field in card:
            return 40035, f"invalid parameter: template_card.{field} is not supported"
    title = card.get("main_title") if isinstance(card.get("main_title"), dict) else {}
    if card_type == "text_notice" and not (
        _words(title.get("title")) or _words(card.get("sub_title_text"))
    ):
        return 40035, "invalid parameter: template_card.main_title.title or sub_title_text"
    if card_type == "news_notice":
        image, area = card.get("card_image"), card.get("image_text_area")
        if not (isinstance(image, dict) and _words(image.get("url"))) and not (
            isinstance(area, dict) and _words(area.get("image_url"))
        ):
            return 40035, "invalid parameter: template_card.card_image or image_text_area"
    return 0, ""


def check_body(
    msgtype: str, body: dict, media: dict | None = None, key: str = ""
) -> tuple[int, str]:
    payload = body.get(msgtype)
    if msgtype not in MSGTYPES:
        return 40008, "invalid message type"
    if not isinstance(payload, dict):
        return 40035, f"invalid parameter: {msgtype}"
    if msgtype in ("file", "voice"):
        item = (media or {}).get(payload.get("media_id"))
        if item is None or item[1] != msgtype or item[2] < time.time() or item[3] != key:
            return 40007, "invalid media_id"
        return 0, ""
    if msgtype == "text":
        content = payload.get("content") or ""
        if not content and not (
            payload.get("mentioned_list") or payload.get("mentioned_mobile_list")
        ):
            return 44004, "empty content"
        if len(content.encode()) > TEXT_MAX:
            return 40058, f"text.content exceed max length {TEXT_MAX}"
    elif msgtype in ("markdown", "markdown_v2"):
        content = payload.get("content") or ""
        if not content:
            return 44004, "empty content"
        if len(content.encode()) > MARKDOWN_MAX:
            return 40058, f"{msgtype}.content exceed max length {MARKDOWN_MAX}"
    elif msgtype == "image":
        try:
            raw = base64.b64decode(payload.get("base64") or "", validate=True)
        except (binascii.Error, ValueError):
            return 40035, "invalid parameter: image.base64"
        if len(raw) > IMAGE_MAX:
            return 40006, "invalid file size"
        if not (raw.startswith(b"\xff\xd8\xff") or raw.startswith(b"\x89PNG\r\n\x1a\n")):
            return 40004, "invalid media type"
        if hashlib.md5(raw).hexdigest() != payload.get("md5"):  # noqa: S324
            return 301019, "media md5 not match"
    elif msgtype == "template_card":
        return check_card(payload)
    elif msgtype == "news":
        articles = payload.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            return 40035, "invalid parameter: news.articles must hold 1 to 8 articles"
        for article in articles:
            if not article.get("title") or not article.get("url"):
                return 40035, "invalid parameter: news.articles title and url are required"
    return 0, ""
