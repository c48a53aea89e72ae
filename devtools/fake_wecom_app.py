"""A fake WeCom self-built application API: a real HTTP server on 127.0.0.1.

Follows shared/spec/wecom-app.md:

with FakeWeComApp(corp_id="ww1", secret="s", agent_id=1000002) as api:
    settings.WECOM_API_BASE = api.base_url
    api.users = {"zhangsan": {"name": "张三", "department": [1]}}
    api.sent                 # [(path, body)] of every message/send and appchat/send accepted
    api.token_fetches        # how many gettoken calls succeeded
    api.answer_next("message/send", 60020)   # the next call of that API (gettoken too)
                                             # answers this errcode
    api.expire_tokens()      # every issued token now answers 42001
    api.drop_next = 1        # the next send is accepted, then the connection is cut
    api.names_readable = False   # user/get answers 48002, user/simplelist gives no names
    api.visible_departments = [2]; api.visible_users = ["lisi"]   # the app's visible range
    api.tags = {1: {"users": ["wangwu"], "parties": [3]}}        # tags in the range
    api.unlicensed = {"lisi"}    # sent to, but named in `unlicenseduser`
    api.all_invalid_errcode = 0  # no valid recipient: errcode 0 + invaliduser, not 81013
    api.linked_miniprograms = {"wx…"}   # appids a miniprogram_notice may open
    api.app_closed = True        # the app is disabled (停用): agent/get answers close 1,
                                 # sends and uploads 50003
    api.task_ids             # the template cards' task_ids the app used (add one: a card
                             # another client of the app sent)
    api.uploads              # [(type, filename, bytes)] of every media/upload accepted

HTTP 200 with a JSON errcode always; an unknown or expired token → 40014 /
42001; message/send: invaliduser for unknown members, lowercased (81013 when
none is valid), unlicenseduser for unlicensed ones; appchat/create (document 90245)
takes 2 to 2000 members (86006 "invalid chat member list size" otherwise, as WeCom's
developer community reports it), an owner among them (86207, "群主不在群成员列表"), and a
chatid of at most 32 letters a-z, A-Z and digits (86205 "字符串chatid过长" when longer,
86001 "chatid 不合法" for other characters: the global errcode list, document 90313, does
not say which one a bad character gets) that no chat has yet (86215, "会话ID已经存在");
appchat/send only to chats
created by appchat/create, and every appchat call only for an app whose visible range
is the root department (60011 otherwise); media/upload takes a part `media` with a
file name and more than 5 bytes (an image: JPG or PNG ≤ 10 MB; a voice: AMR ≤ 2 MB; a video: MP4
≤ 10 MB; a file ≤ 20 MB) and gives a media_id valid 3 days, which only a message of
its type may name (40007 otherwise); media/get serves uploaded bytes; template_card needs a card_type
(members only), with a task_id when interactive or with an action_menu, never one the
app used before and at most 128 bytes (42014 otherwise: "同一个应用任务id不能重复"; the
errcode from WeCom's answers, reported by its developer community and SDK users);
which errcodes WeCom gives for an upload without a file name and for a media_id of
another type are not documented (the fake says 41006, as for no media part, and 40007);
miniprogram_notice only for linked appids; user/list_id refuses
the app (48002: only the contact sync secret may list the corp); agent/get
answers the app's details for its own AgentId (40056 for another, and for a
message/send naming another); department/simplelist, user/simplelist and
tag/get answer within the app's visible range.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time

from botadmin.local_http import Answer, LocalServer, Request

TOKEN_LIFETIME = 7200
MEDIA_LIFETIME = 3 * 24 * 3600
APP_MSGTYPES = {
    "text",
    "markdown",
    "textcard",
    "news",
    "mpnews",
    "image",
    "voice",
    "video",
    "file",
    "miniprogram_notice",
    "template_card",
}
APPCHAT_MSGTYPES = {
    "text",
    "markdown",
    "textcard",
    "news",
    "mpnews",
    "image",
    "voice",
    "video",
    "file",
}
# A disabled app may call no API (global errcode 50003); agent/get still says `close`.
CLOSED_APP_REFUSES = {"message/send", "appchat/send", "media/upload"}
TEXT_MAX = 2048
MEDIA_MIN = 6  # "> 5 bytes"
# media/upload's limits by type (shared/spec/wecom-app.md) and the signatures it takes.
MEDIA_MAX = {
    "image": 10 * 1024 * 1024,
    "voice": 2 * 1024 * 1024,
    "video": 10 * 1024 * 1024,
    "file": 20 * 1024 * 1024,
}
MEDIA_FORMATS = {
    "image": lambda raw: raw.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")),  # JPG, PNG
    "voice": lambda raw: raw.startswith(b"#!AMR\n"),
    "video": lambda raw: raw[4:8] == b"ftyp",  # MP4
    "file": lambda raw: True,
}
CARD_TYPES = {
    "text_notice",
    "news_notice",
    "button_interaction",
    "vote_interaction",
    "multiple_interaction",
}
INTERACTIVE_CARD_TYPES = {"button_interaction", "vote_interaction", "multiple_interaction"}
TASK_ID_MAX_BYTES = 128
TASK_ID_REFUSED = (42014, "taskid has existed or empty or exceed max len")


class FakeWeComApp(LocalServer):
    def __init__(
        self, corp_id: str = "wwcorp", secret: str = "app-secret", agent_id: int = 1000002
    ):
        super().__init__()
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id
        self.departments = [{"id": 1, "name": "公司", "parentid": 0}]
        self.users: dict[str, dict] = {}
        self.names_readable = True
        self.unlicensed: set[str] = set()  # members without an account license (接口许可)
        # WeCom answers 81013 when no recipient is valid; some corps see errcode 0
        # with the lone recipient in `invaliduser` (set 0 for that).
        self.all_invalid_errcode = 81013
        self.linked_miniprograms: set[str] = set()
        self.app_closed = False
        # The app's visible range (可见范围): departments with their subdepartments,
        # members by name, tags ({tagid: {"users": [...], "parties": [...]}}).
        self.visible_departments: list[int] = [1]
        self.visible_users: list[str] = []
        self.tags: dict[int, dict] = {}
        self.simplelist_calls = 0
        self.chats: dict[str, dict] = {}
        self.media: dict[str, tuple[bytes, str, float]] = {}  # id → (bytes, type, expires)
        self.uploads: list[tuple[str, str, bytes]] = []  # (type, filename, bytes)
        self.tokens: dict[str, float] = {}  # token → expiry (monotonic)
        self.token_lifetime = TOKEN_LIFETIME
        self.token_fetches = 0
        self.sent: list[tuple[str, dict]] = []
        self.task_ids: set[str] = set()
        self.requests: list[tuple[str, str, bytes]] = []  # (path, query, body)
        self.drop_next = 0
        self._forced: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url()

    def answer_next(self, api: str, *errcodes: int) -> None:
        """The next calls of `api` (e.g. "message/send") answer these errcodes."""
        with self._lock:
            self._forced.setdefault(api, []).extend(errcodes)

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self.tokens:
                self.tokens[token] = 0.0

    def add_user(self, userid: str, name: str = "", department: int | list[int] = 1) -> None:
        departments = department if isinstance(department, list) else [department]
        self.users[userid] = {"name": name or userid, "department": departments}

    def add_department(self, department_id: int, name: str, parentid: int = 1) -> None:
        self.departments.append({"id": department_id, "name": name, "parentid": parentid})

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.sent

    # --- the API -----------------------------------------------------------

    def answer(self, method: str, api: str, query: dict, raw: bytes, headers) -> dict | bytes:
        with self._lock:
            self.requests.append((api, json.dumps(query), raw))
            if api == "gettoken":
                return self._forced_answer(api) or self._gettoken(query)
            token = query.get("access_token", "")
            expiry = self.tokens.get(token)
            if expiry is None:
                return _error(40014, "invalid access_token")
            if expiry <= time.monotonic():
                return _error(42001, "access_token expired")
            if forced := self._forced_answer(api):
                return forced
            if self.app_closed and api in CLOSED_APP_REFUSES:
                return _error(50003, _ERRMSG[50003])
            if api.startswith("appchat/") and not self._sees_the_root():
                return _error(60011, _ERRMSG[60011])
            handler = getattr(self, "_" + api.replace("/", "_"), None)
            if handler is None:
                return _error(404, f"unknown api {api}")
            if method == "POST" and api != "media/upload":
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    return _error(40035, "Warning: wrong json format.")
            else:
                body = {}
            if api == "media/upload":
                return handler(query, raw, headers)
            return handler(query, body)

    def _forced_answer(self, api: str) -> dict | None:
        forced = self._forced.get(api)
        if not forced:
            return None
        errcode = forced.pop(0)
        answer = _error(errcode, _ERRMSG.get(errcode, "forced by the test"))
        if errcode == 60020:
            answer["errmsg"] = "not allow to access from your ip, from ip: 127.0.0.1"
        return answer

    def _gettoken(self, query: dict) -> dict:
        if query.get("corpid") != self.corp_id:
            return _error(40013, "invalid corpid")
        if query.get("corpsecret") != self.secret:
            return _error(40001, "invalid credential")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.monotonic() + self.token_lifetime
        self.token_fetches += 1
        return {
            "errcode": 0,
            "errmsg": "ok",
            "access_token": token,
            "expires_in": self.token_lifetime,
        }

    def _message_send(self, query: dict, body: dict) -> dict:
        if body.get("agentid") != self.agent_id:
            return _error(40056, "invalid agentid")
        check = _check_message(body, APP_MSGTYPES, self.media)
        if check:
            return check
        task_id = card_task_id(body)
        if task_id is not None and (not task_id or task_id in self.task_ids):
            return _error(*TASK_ID_REFUSED)
        notice = body.get("miniprogram_notice")
        if notice is not None and notice.get("appid") not in self.linked_miniprograms:
            return _error(40035, "invalid parameter: appid is no mini program linked to the corp")
        targets = str(body.get("touser") or "").split("|")
        if targets == ["@all"]:
            invalid = []
        else:
            invalid = [t.lower() for t in targets if t not in self.users]
        if invalid and len(invalid) == len(targets) and self.all_invalid_errcode:
            return _error(self.all_invalid_errcode, "user & party & tag all invalid")
        unlicensed = [t.lower() for t in targets if t in self.unlicensed]
        self.sent.append(("message/send", body))
        if task_id:
            self.task_ids.add(task_id)
        answer = {"errcode": 0, "errmsg": "ok", "msgid": secrets.token_hex(16)}
        if invalid:
            answer["invaliduser"] = "|".join(invalid)
        if unlicensed:
            answer["unlicenseduser"] = "|".join(unlicensed)
        return answer

    def _appchat_create(self, query: dict, body: dict) -> dict:
        members = body.get("userlist") or []
        if not isinstance(members, list) or not 2 <= len(members) <= 2000:
            return _error(86006, "invalid chat member list size")
        if body.get("owner") and body["owner"] not in members:
            return _error(86207, "owner not in member list")
        chatid = body.get("chatid") or secrets.token_hex(8)
        if len(chatid) > 32:
            return _error(86205, "chatid too long")
        if not (chatid.isascii() and chatid.isalnum()):
            return _error(86001, "invalid chatid")
        if chatid in self.chats:
            return _error(86215, "chatid exists")
        self.chats[chatid] = {
            "name": body.get("name", ""),
            "owner": body.get("owner"),
            "userlist": members,
        }
        return {"errcode": 0, "errmsg": "ok", "chatid": chatid}

    def _appchat_get(self, query: dict, body: dict) -> dict:
        chat = self.chats.get(query.get("chatid", ""))
        if chat is None:
            return _error(86003, "chat not exist")
        return {"errcode": 0, "errmsg": "ok", "chat_info": {"chatid": query["chatid"], **chat}}

    def _appchat_send(self, query: dict, body: dict) -> dict:
        if body.get("chatid") not in self.chats:
            return _error(86003, "chat not exist")
        check = _check_message(body, APPCHAT_MSGTYPES, self.media)
        if check:
            return check
        self.sent.append(("appchat/send", body))
        return {"errcode": 0, "errmsg": "ok"}

    def _media_upload(self, query: dict, raw: bytes, headers) -> dict:
        kind = query.get("type", "")
        if kind not in ("image", "voice", "video", "file"):
            return _error(40004, "invalid media type")
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        content, filename = _multipart_media(raw, content_type)
        if content is None or not filename:
            return _error(41006, "media data missing")
        if not MEDIA_MIN <= len(content) <= MEDIA_MAX[kind]:
            return _error(40006, "invalid file size")
        if not MEDIA_FORMATS[kind](content):
            return _error(40004, "invalid media type")
        media_id = "M" + secrets.token_hex(12)
        self.media[media_id] = (content, kind, time.time() + MEDIA_LIFETIME)
        self.uploads.append((kind, filename, content))
        return {
            "errcode": 0,
            "errmsg": "ok",
            "type": kind,
            "media_id": media_id,
            "created_at": str(int(time.time())),
        }

    def _media_get(self, query: dict, body: dict) -> dict | bytes:
        media = self.media.get(query.get("media_id", ""))
        if media is None or media[2] < time.time():
            return _error(40007, "invalid media_id")
        return media[0]

    def _agent_get(self, query: dict, body: dict) -> dict:
        if query.get("agentid") != str(self.agent_id):
            return _error(40056, "invalid agentid")
        return {
            "errcode": 0,
            "errmsg": "ok",
            "agentid": self.agent_id,
            "name": "botadmin",
            "square_logo_url": "https://p.qlogo.cn/bizmail/botadmin/0",
            "description": "",
            "allow_userinfos": {"user": [{"userid": u} for u in self.visible_users]},
            "allow_partys": {"partyid": list(self.visible_departments)},
            "allow_tags": {"tagid": list(self.tags)},
            "close": 1 if self.app_closed else 0,
            "redirect_domain": "",
            "report_location_flag": 0,
            "isreportenter": 0,
            "home_url": "",
            "customized_publish_status": 0,
        }

    def _subtree(self, root: int) -> list[dict]:
        ids, found = {root}, True
        while found:
            found = False
            for department in self.departments:
                if department["parentid"] in ids and department["id"] not in ids:
                    ids.add(department["id"])
                    found = True
        return [d for d in self.departments if d["id"] in ids]

    def _sees_the_root(self) -> bool:
        """Whether the app's visible range is the root department (appchat needs it)."""
        roots = {d["id"] for d in self.departments if d["parentid"] == 0}
        return bool(roots & set(self.visible_departments))

    def _visible(self) -> list[dict]:
        seen = {}
        for root in self.visible_departments:
            for department in self._subtree(root):
                seen[department["id"]] = department
        return list(seen.values())

    def _department_list(self, query: dict, body: dict) -> dict:
        return {"errcode": 0, "errmsg": "ok", "department": self._visible()}

    def _department_simplelist(self, query: dict, body: dict) -> dict:
        departments = self._subtree(int(query["id"])) if query.get("id") else self._visible()
        return {
            "errcode": 0,
            "errmsg": "ok",
            "department_id": [
                {"id": d["id"], "parentid": d["parentid"], "order": 0} for d in departments
            ],
        }

    def _user_list_id(self, query: dict, body: dict) -> dict:
        # Only the contact sync secret (通讯录同步) may call it, never an app's.
        return _error(48002, "api forbidden")

    def _user_simplelist(self, query: dict, body: dict) -> dict:
        department = int(query.get("department_id") or 0)
        if department not in {d["id"] for d in self.departments}:
            return _error(60003, "department not found")
        self.simplelist_calls += 1
        members = [
            {"userid": u, "department": user["department"]}
            | ({"name": user["name"]} if self.names_readable else {})
            for u, user in sorted(self.users.items())
            if department in user["department"]
        ]
        return {"errcode": 0, "errmsg": "ok", "userlist": members}

    def _tag_get(self, query: dict, body: dict) -> dict:
        tag = self.tags.get(int(query.get("tagid") or 0))
        if tag is None:
            return _error(40068, "invalid tagid")
        return {
            "errcode": 0,
            "errmsg": "ok",
            "tagname": tag.get("tagname", ""),
            "userlist": [
                {"userid": u, "name": self.users.get(u, {}).get("name", u)}
                for u in tag.get("users", [])
            ],
            "partylist": list(tag.get("parties", [])),
        }

    def _user_get(self, query: dict, body: dict) -> dict:
        if not self.names_readable:
            return _error(48002, "api forbidden")
        user = self.users.get(query.get("userid", ""))
        if user is None:
            return _error(60111, "userid not found")
        return {"errcode": 0, "errmsg": "ok", "userid": query["userid"], **user}

    def handle(self, request: Request) -> Answer:
        if not request.path.startswith("/cgi-bin/"):
            return Answer(404, b"not found")
        api = request.path.removeprefix("/cgi-bin/")
        answer = self.answer(request.method, api, request.query, request.body, request.headers)
        if (
            self.drop_next
            and api.endswith("/send")
            and isinstance(answer, dict)
            and answer.get("errcode") == 0
        ):
            self.drop_next -= 1
            return Answer(drop=True)  # sent, but the answer never arrives
        if isinstance(answer, bytes):
            return Answer(200, answer, {"Content-Type": "application/octet-stream"})
        return Answer(200, answer, {"Content-Type": "application/json; charset=UTF-8"})


_ERRMSG = {
    -1: "system busy",
    40014: "invalid access_token",
    42001: "access_token expired",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    40056: "invalid agentid",
    50003: "agent is disabled",
    48002: "api forbidden",
    60011: "no privilege to access/modify contact/party/agent",
    60020: "not allow to access from your ip",
    81013: "user & party & tag all invalid",
    40008: "invalid message type",
    40007: "invalid media_id",
    42014: TASK_ID_REFUSED[1],
}


def _error(errcode: int, errmsg: str) -> dict:
    return {"errcode": errcode, "errmsg": errmsg}


def _check_message(body: dict, allowed: set[str], media: dict) -> dict | None:
    msgtype = body.get("msgtype")
    if msgtype not in allowed:
        return _error(40008, "invalid message type")
    payload = body.get(msgtype)
    if not isinstance(payload, dict):
        return _error(40035, f"invalid parameter: {msgtype}")
    if msgtype in ("text", "markdown"):
        content = payload.get("content") or ""
        if not content:
            return _error(44004, "empty content")
        if len(content.encode()) > TEXT_MAX:
            return _error(45002, "content size out of limit")
    elif msgtype in ("image", "voice", "video", "file"):
        item = media.get(payload.get("media_id", ""))
        if item is None or item[1] != msgtype or item[2] < time.time():
            return _error(40007, "invalid media_id")
    elif msgtype == "textcard":
        if not payload.get("title") or not payload.get("url") or not payload.get("description"):
            return _error(40035, "invalid parameter: textcard needs title, description and url")
    elif msgtype == "template_card":
        if payload.get("card_type") not in CARD_TYPES:
            return _error(40035, "invalid parameter: template_card.card_type")
    elif msgtype == "miniprogram_notice":
        if not payload.get("appid") or not payload.get("title"):
            return _error(40035, "invalid parameter: miniprogram_notice needs appid and title")
    elif msgtype == "news":
        articles = payload.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            return _error(40035, "invalid parameter: news.articles must hold 1 to 8 articles")
        if any(not a.get("title") for a in articles):
            return _error(40035, "invalid parameter: news.articles need a title")
    return None


def card_task_id(body: dict) -> str | None:
    """A template card's task_id; "" where WeCom wants one and it is missing or over 128
    bytes; None for a card without one that needs none, and for other msgtypes."""
    card = body.get("template_card") if body.get("msgtype") == "template_card" else None
    if not isinstance(card, dict):
        return None
    task_id = card.get("task_id")
    needed = card.get("card_type") in INTERACTIVE_CARD_TYPES or "action_menu" in card
    if task_id is None and not needed:
        return None
    task_id = str(task_id or "")
    return task_id if len(task_id.encode()) <= TASK_ID_MAX_BYTES else ""


# The part's file name: quoted (`filename="a.pdf"; filelength=9`) or a bare token.
_FILENAME = re.compile(rb'filename="([^"]*)"|filename=([^;\s]*)')


def _multipart_media(raw: bytes, content_type: str) -> tuple[bytes | None, str]:
    """The `media` part's bytes and file name of a multipart/form-data body."""
    if "boundary=" not in content_type:
        return None, ""
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    for part in raw.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="media"' not in head:
            continue
        found = _FILENAME.search(head)
        filename = (found.group(1) or found.group(2) or b"").decode() if found else ""
        return content.removesuffix(b"\r\n"), filename.strip()
    return None, ""
