"""A fake WeCom AI bot long-connection server: a real WebSocket server on 127.0.0.1.

It follows shared/spec/wecom-aibot.md:

* the first frame must be `aibot_subscribe` with a known bot id and secret;
  otherwise the ack carries errcode 853000 "invalid bot_id or secret" and the
  connection is left open, answering nothing more (what WeCom did when tried
  with a wrong secret: tangnie001-stack/corporate_rag, docs/agents/wecom-sdk-facts.md
  E3; the client must close it, as Tencent's SDK does). An errcode
  `answer_next_subscribe` forces (-1 busy, 45009, 45033: WeCom was never seen to
  answer a subscription so; they test the client's reading of WeCom's global
  errcodes) is answered the same way, the connection left open;
* one live connection per bot: a newer subscription takes over, and the older
  connection gets an `aibot_event_callback` with `disconnected_event`, then
  is closed;
* `ping` is acknowledged (unless `answer_pings` is off), `ping_delay` seconds
  late if the test says so, with errcode `ping_errcode` (0 unless the test sets one);
* `silence(bot_id)` makes the bot's connection silent while its TCP connection stays
  open: the server reads nothing more on it and answers nothing, not even the
  WebSocket close (a hung server or a route that drops packets);
  `subscribe_delay` answers subscriptions that many seconds late (the gateway still
  connecting); `close_after_subscribe` (a number) closes that many next connections right after
  acknowledging their subscriptions, `close_at_subscribe` every connection as its
  subscription comes, unanswered (a server that takes connections and drops them);
* `aibot_send_msg` needs a `chatid` and takes markdown (≤ 20,480 bytes),
  template cards (of the five card types wecom-aibot.md names, in sends, replies,
  welcomes and updates alike) and image / file / voice / video by the media_id of an upload
  of that type this bot finished (40007 otherwise); anything else, `text`
  included, is refused (40008);
* `aibot_respond_msg` must carry the req_id of a message callback this server
  sent on that connection, within `reply_seconds` (846605 otherwise), and a
  known msgtype (a stream with its `id` and ≤ 20,480 bytes of content, a card,
  both, or media by media_id: devtools/fake_wecom_aibot_checks.py); WeCom stops
  taking a stream's updates after about 6 minutes (846608,
  WecomTeam/wecom-openclaw-plugin src/interface.ts) and what it answers a first
  reply that late is written nowhere: the 300 s the gateway keeps to are the
  fake's window, stricter than WeCom's; an
  `enter_chat` event is answered by `aibot_respond_welcome_msg` (text or
  template card, 40008 otherwise) or by a template card through
  `aibot_respond_msg`, either within `welcome_seconds` (5 s); a card click
  (`template_card_event`) is answered by `aibot_respond_update_msg` within
  `update_seconds` (5 s) with `{"response_type": "update_template_card",
  "template_card": {…}}` whose task_id is the clicked card's (40058
  otherwise: which errcode WeCom gives is not documented); other events take
  no reply;
* a new card (`aibot_send_msg`, or a card answering a message or `enter_chat`)
  whose `task_id` this bot already used — on a card it sent, or on a card
  clicked in a pushed `template_card_event` — or that needs one (interactive,
  or with an action_menu) and has none, or one over 128 bytes, is refused with
  42014 "taskid has existed or empty or exceed max len" (同一个机器人任务id不能
  重复; WeCom documents no errcode for it: this is what an app gets, as its
  developer community shows, and what users of the AI bot SDK report); a task_id of
  other characters than digits, letters and "_-@" with 40058 (Tencent's SDK types);
* uploads: init → upload_id, chunks, finish → media_id (the bytes are kept);
  every frame is checked as WeCom would (devtools/fake_wecom_aibot_checks.py:
  type, chunk sizes and count, 0-based chunk_index, total_size and md5);
* `silent_sends` / `silent_replies` accept `aibot_send_msg` / `aibot_respond_msg`
  without acknowledging them (an ack lost on the way);
* `ack_with_cmd` makes every ack name the command it answers (an ack has no
  `cmd` in wecom-aibot.md; a client must not depend on that);
* `ack_repeating = (key, value)` writes that key once more, last, in the acks of sends
  and replies (`{"errcode": 0, …, "errcode": 40008}`: readers differ on which counts);
  `push_raw` sends a frame's text as it is (a key named twice, say);
* `answer_next(errcode, …)` refuses the next sends or replies with these
  errcodes (45009 rate limit, -1 system busy, …), `answer_next_upload(…,
  stage="init")` the next upload frames of that stage (`init`, `chunk`,
  `finish`: 40006 invalid file size, 40004 invalid media type, …);
* media for callbacks is served over HTTP (`media_url`) for `media_seconds`
  only, encrypted with a per-message aeskey, with the `Content-Disposition`
  the test gives (its file name; sent as raw UTF-8 bytes, as a server may);
  `fail_downloads` makes the next downloads answer 503.

with FakeAIBotServer({"bot1": "secret1"}) as server:
    settings.WECOM_AIBOT_WS_URL = server.url
    server.push_message("bot1", {"msgtype": "text", ...})  # a callback frame
    server.sent        # [(bot_id, cmd, body)] of every send/respond it accepted
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
import uuid

import websockets
from websockets.asyncio.server import serve

from botadmin.local_http import Answer, LocalServer, Request
from connectors.wecom_aibot_frames import encrypt_media
from devtools.fake_wecom_aibot_commands import (
    CREDENTIALS_REFUSED,
    FORCED_ERRMSGS,
    UPLOAD_STAGES,
    Commands,
    answering_command,
)


class _MediaServer(LocalServer):
    def __init__(self, owner: FakeAIBotServer):
        super().__init__()
        self.owner = owner

    def handle(self, request: Request) -> Answer:
        owner = self.owner
        with owner.lock:
            owner.downloads.append(request.path)
            if owner.fail_downloads:
                owner.fail_downloads -= 1
                return Answer(503, b"busy")
            entry = owner.media.get(request.path.rsplit("/", 1)[-1])
        if entry is None or time.time() > entry[1]:
            return Answer(404, b"expired")
        headers = {"Content-Type": "application/octet-stream"}
        if entry[2]:  # http.server writes header text as Latin-1: these are its UTF-8 bytes
            headers["Content-Disposition"] = entry[2].encode().decode("latin-1")
        return Answer(200, entry[0], headers)


class FakeAIBotServer(Commands):
    def __init__(self, bots: dict[str, str]):
        self.bots = dict(bots)
        self.lock = threading.Lock()
        self.frames: list[tuple[str, dict]] = []  # every frame a client sent (bot id or "")
        self.frame_times: list[float] = []  # when each of `frames` came (time.monotonic())
        self.sent: list[tuple[str, str, dict]] = []  # accepted sends and replies
        self.subscriptions: list[tuple[str, int]] = []  # (bot id, errcode)
        self.live: dict[str, object] = {}  # bot id → its current connection
        self.open_connections = 0  # WebSocket connections not closed yet
        self.callback_req_ids: dict[int, dict[str, float]] = {}  # id(ws) → req_id → sent at
        self.uploads: dict[str, dict] = {}
        # token → (encrypted bytes, expiry, Content-Disposition)
        self.media: dict[str, tuple[bytes, float, str]] = {}
        self.downloads: list[str] = []
        self.answer_pings = True
        self.ping_delay = 0.0  # seconds before a ping's ack
        self.ping_errcode = 0  # the errcode pings are acknowledged with (0: ok)
        self.ack_with_cmd = False  # acks name the command they answer
        self.ack_repeating: tuple[str, object] | None = None  # a key written twice in acks
        self.close_after_subscribe = 0  # close the next N connections right after their ack
        self.close_at_subscribe = False  # close each connection as its subscription comes
        self.subscribe_delay = 0.0  # seconds before a subscription is answered (WeCom is slow)
        self._silenced: list = []  # connections `silence` stopped reading
        self._late_acks: set[asyncio.Task] = set()
        self.reply_seconds = 300.0
        self.welcome_seconds = 5.0
        self.welcome_req_ids: dict[int, dict[str, float]] = {}  # id(ws) → enter_chat req_id → at
        self.update_seconds = 5.0
        # id(ws) → template_card_event req_id → (at, the clicked card's task_id)
        self.card_req_ids: dict[int, dict[str, tuple[float, str]]] = {}
        self.task_ids: dict[str, set[str]] = {}  # bot id → the task_ids of its cards
        self.media_seconds = 300.0
        self.fail_downloads = 0
        self.silent_sends = False  # accept sends without acknowledging them
        self.silent_replies = False  # accept aibot_respond_msg without acknowledging it
        self.kicks = 0  # disconnected_events sent (a newer subscription took a bot over)
        self._forced: list[int | None] = []  # errcodes the next sends / replies are refused with
        self._forced_uploads: dict[str, list[int]] = {stage: [] for stage in UPLOAD_STAGES}
        self._forced_subscribes: list[int] = []
        self._loop = asyncio.new_event_loop()
        self._http = _MediaServer(self)

    # --- lifecycle ------------------------------------------------------------------

    def __enter__(self):
        self._http.start()
        started = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)

            async def open_server():
                return await serve(self._handle, "127.0.0.1", 0, ping_interval=None)

            self._server = self._loop.run_until_complete(open_server())
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(5)
        self.url = f"ws://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc):
        async def close():
            for late in list(self._late_acks):
                late.cancel()
            for ws in self._silenced:  # they would never answer the server's close
                ws.transport.abort()
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._http.stop()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(5)

    # --- what tests do --------------------------------------------------------------

    def answer_next(self, *errcodes: int | None) -> None:
        """Refuse the next sends or replies (any aibot_send_msg / aibot_respond_*) so;
        None: answer that one as usual."""
        with self.lock:
            self._forced.extend(errcodes)

    def answer_next_subscribe(self, *errcodes: int) -> None:
        """Answer the next subscriptions with these errcodes, whatever their credentials,
        leaving each connection open as a refused one is (the client closes it)."""
        with self.lock:
            self._forced_subscribes.extend(errcodes)

    def answer_next_upload(self, *errcodes: int, stage: str = "init") -> None:
        """Refuse the next upload frames of this stage (`init`, `chunk`, `finish`) so."""
        with self.lock:
            self._forced_uploads[stage].extend(errcodes)

    def _forced_errcode(self, cmd: str) -> int | None:
        with self.lock:
            if cmd == "aibot_send_msg" or cmd.startswith("aibot_respond_"):
                return self._forced.pop(0) if self._forced else None
            forced = self._forced_uploads.get(cmd.removeprefix("aibot_upload_media_"))
            if cmd.startswith("aibot_upload_media_") and forced:
                return forced.pop(0)
        return None

    def wait_connected(self, bot_id: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while bot_id not in self.live:
            assert time.monotonic() < deadline, f"{bot_id} never connected"
            time.sleep(0.05)

    def frames_of(self, cmd: str) -> list[dict]:
        with self.lock:
            return [frame for _, frame in self.frames if frame.get("cmd") == cmd]

    def times_of(self, cmd: str) -> list[float]:
        """When each frame of this command came (time.monotonic())."""
        with self.lock:
            pairs = zip(self.frames, self.frame_times, strict=True)
            return [at for (_, frame), at in pairs if frame.get("cmd") == cmd]

    def push(self, bot_id: str, cmd: str, body: dict, req_id: str = "") -> str:
        """Send a callback frame on the bot's live connection; its req_id."""
        req_id = req_id or f"cb_{uuid.uuid4().hex}"
        ws = self.live[bot_id]
        event = body.get("event") if isinstance(body.get("event"), dict) else {}
        with self.lock:
            if cmd == "aibot_msg_callback":
                self.callback_req_ids.setdefault(id(ws), {})[req_id] = time.time()
            elif event.get("eventtype") == "enter_chat":
                self.welcome_req_ids.setdefault(id(ws), {})[req_id] = time.time()
            elif event.get("eventtype") == "template_card_event":
                click = event.get("template_card_event") or {}
                clicked = (time.time(), str(click.get("task_id") or event.get("task_id") or ""))
                self.card_req_ids.setdefault(id(ws), {})[req_id] = clicked
                if clicked[1]:  # the clicked card is in the chat
                    self.task_ids.setdefault(bot_id, set()).add(clicked[1])
        frame = {"cmd": cmd, "headers": {"req_id": req_id}, "body": body}
        self._call(ws.send(json.dumps(frame, ensure_ascii=False)))
        return req_id

    def push_raw(self, bot_id: str, text: str) -> None:
        """Send this text as a frame on the bot's live connection, as it is."""
        self._call(self.live[bot_id].send(text))

    def push_message(self, bot_id: str, body: dict, req_id: str = "") -> str:
        return self.push(bot_id, "aibot_msg_callback", {"aibotid": bot_id, **body}, req_id)

    def media_url(self, plain: bytes, disposition: str = "") -> tuple[str, str]:
        """(url, aeskey) of these bytes, encrypted, downloadable for `media_seconds`, served
        with this `Content-Disposition` (e.g. `attachment; filename*=UTF-8''…`)."""
        aeskey = base64.b64encode(os.urandom(32)).decode().rstrip("=")
        token = uuid.uuid4().hex
        expiry = time.time() + self.media_seconds
        with self.lock:
            self.media[token] = (encrypt_media(plain, aeskey), expiry, disposition)
        return self._http.url(f"/media/{token}"), aeskey

    def kick(self, bot_id: str) -> None:
        """Another client took over: disconnected_event, then close (as WeCom does)."""
        ws = self.live.pop(bot_id)
        self._call(self._kick(ws, bot_id))

    def silence(self, bot_id: str) -> None:
        """Stop reading the bot's connection and answering on it, its TCP connection left
        open: no ack, no callback, no answer to a WebSocket close or ping."""
        ws = self.live.pop(bot_id)
        self._silenced.append(ws)
        self._loop.call_soon_threadsafe(ws.transport.pause_reading)

    def drop(self, bot_id: str) -> None:
        """Close the bot's connection without a word (a network drop, a WeCom restart)."""
        ws = self.live.pop(bot_id)
        self._call(ws.close())

    # --- the server -------------------------------------------------------------------

    async def _kick(self, ws, bot_id: str) -> None:
        self.kicks += 1
        event = {
            "cmd": "aibot_event_callback",
            "headers": {"req_id": f"ev_{uuid.uuid4().hex}"},
            "body": {
                "msgid": uuid.uuid4().hex,
                "aibotid": bot_id,
                "msgtype": "event",
                "create_time": int(time.time()),
                "event": {"eventtype": "disconnected_event"},
            },
        }
        try:
            await ws.send(json.dumps(event))
            await ws.close()
        except websockets.ConnectionClosed:
            pass

    async def _handle(self, ws) -> None:
        bot_id, refused = "", False
        with self.lock:
            self.open_connections += 1
        try:
            async for raw in ws:
                if refused:  # WeCom answers nothing more on a refused connection
                    continue
                frame = json.loads(raw)
                with self.lock:
                    self.frames.append((bot_id, frame))
                    self.frame_times.append(time.monotonic())
                req_id = (frame.get("headers") or {}).get("req_id", "")
                cmd = frame.get("cmd")
                answering_command.set(str(cmd or ""))
                if not bot_id:
                    body = frame.get("body") or {}
                    if self.close_at_subscribe:
                        await ws.close()
                        break
                    await asyncio.sleep(self.subscribe_delay)
                    with self.lock:
                        forced = self._forced_subscribes.pop(0) if self._forced_subscribes else 0
                    if not forced and (
                        cmd != "aibot_subscribe"
                        or self.bots.get(body.get("bot_id")) != body.get("secret")
                    ):
                        self.subscriptions.append((str(body.get("bot_id")), CREDENTIALS_REFUSED[0]))
                        await self._ack(ws, req_id, *CREDENTIALS_REFUSED)
                        refused = True
                        continue
                    if forced:
                        self.subscriptions.append((str(body.get("bot_id")), forced))
                        errmsg = FORCED_ERRMSGS.get(forced, CREDENTIALS_REFUSED[1])
                        await self._ack(ws, req_id, forced, errmsg)
                        refused = True
                        continue
                    bot_id = body["bot_id"]
                    older = self.live.get(bot_id)
                    self.live[bot_id] = ws
                    self.subscriptions.append((bot_id, 0))
                    await self._ack(ws, req_id)
                    if older is not None:
                        await self._kick(older, bot_id)
                    if self.close_after_subscribe:
                        self.close_after_subscribe -= 1
                        await ws.close()
                        break
                    continue
                await self._command(ws, bot_id, cmd, req_id, frame.get("body") or {})
        except websockets.ConnectionClosed:
            pass
        finally:
            with self.lock:
                self.open_connections -= 1
            if bot_id and self.live.get(bot_id) is ws:
                del self.live[bot_id]
