"""Conversions: a msgtype a bot's connector cannot send becomes one it can.

Each connector says what it sends natively (`Connector.msgtypes()`) and, in
its `conversions` table, what every other msgtype may become, in order of
preference (e.g. the bridge's `"markdown": ("text",)`). This module holds the
conversion of each (from → to) pair and finds the way from a message's
msgtype to one the bot sends, possibly in two steps (a mini program becomes
a link, which a robot sends as news).

A link's or news article's `url` written without a scheme (`www.qq.com`, which
WeCom's robot opens) becomes `http://` + it for a connector that does not open
such links (`Connector.opens_bare_links`), before any conversion.

`convert(connector, body)` answers the bodies to send (news → link makes one
per article) and a note for the operator ("sent as text: this connector has
no markdown"); it raises `CannotConvert` with the reason when there is no
way, which the API answers with 40008.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.utils.translation import gettext_noop

from botadmin import links, reasons
from botadmin.reasons import Reason

from .base import Connector, Limits

# What a body says besides its msgtype object, kept on every converted part.
ENVELOPE_KEYS = ("reply_to",)


class CannotConvert(Exception):
    """No way to send this body through this connector; the message says why."""


@dataclass
class Converted:
    bodies: list[dict]  # one wire call each, in order
    sent_as: str  # the msgtype sent
    note: str = ""  # empty when sent as it is
    steps: list[str] = field(default_factory=list)  # e.g. ["miniprogram", "link", "news"]


# ---------------------------------------------------------------- markdown → text

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(\[[ xX]\]\s+)?")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*(\S+?)(?:\s+\"[^\"]*\")?\s*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(\s*(\S+?)(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_MENTION = re.compile(r"<@([^>\s]+)>")
_TAG = re.compile(r"</?(font|b|strong|i|em|u|br|span|div|p)\b[^>]*>", re.IGNORECASE)
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_EMPHASIS = (
    re.compile(r"\*\*(.+?)\*\*"),
    re.compile(r"__(.+?)__"),
    re.compile(r"~~(.+?)~~"),
    re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"),
    re.compile(r"`([^`]+)`"),
)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-=.!|>~<])")
_SET_ASIDE_CHARACTER = re.compile("[\ue000-\ue07f]")


def _link_text(title: str, url: str) -> str:
    title = title.strip()
    return url if not title or title == url else f"{title}: {url}"


# An escaped character is set aside as a private-use one while the inline rules run, so
# `\*urgent\*` or `\[x\](y)` (escape_markdown's output) are not read as emphasis or a link.
_SET_ASIDE = 0xE000


def _inline(line: str) -> str:
    line = _ESCAPE.sub(lambda m: chr(_SET_ASIDE + ord(m.group(1))), line)
    line = _BR.sub("\n", line)
    line = _MENTION.sub(r"@\1", line)
    line = _IMAGE.sub(lambda m: _link_text(m.group(1), m.group(2)), line)
    line = _LINK.sub(lambda m: _link_text(m.group(1), m.group(2)), line)
    line = _AUTOLINK.sub(r"\1", line)
    line = _TAG.sub("", line)
    for pattern in _EMPHASIS:
        line = pattern.sub(r"\1", line)
    return _SET_ASIDE_CHARACTER.sub(lambda m: chr(ord(m.group()) - _SET_ASIDE), line)


def markdown_to_text(content: str) -> str:
    """WeCom markdown (v1 or v2) as plain text a reader of a chat understands.

    Headings and emphasis lose their marks, lists get bullets, `<font>` tags
    go (their text stays), `<@userid>` becomes @userid, links become
    "title: url", tables become rows of cells separated by " | ". Other lines keep
    their leading spaces, and one or two blank lines in a row stay.
    """
    lines: list[str] = []
    in_code = False
    for raw in content.replace("\r\n", "\n").split("\n"):
        if _FENCE.match(raw):
            in_code = not in_code
            continue
        if in_code:
            lines.append(raw)
            continue
        line = raw.rstrip()
        if heading := _HEADING.match(line):
            lines.append(_inline(heading.group(1)))
            continue
        if _RULE.match(line):
            lines.append("—" * 8)
            continue
        if _TABLE_RULE.match(line) and "-" in line and "|" in line:
            continue
        if line.lstrip().startswith("|") and line.rstrip().endswith("|"):
            cells = [_inline(cell.strip()) for cell in line.strip().strip("|").split("|")]
            lines.append(" | ".join(cells))
            continue
        line = _QUOTE.sub("", line)
        # Nested lists keep two spaces per level; a stray single space goes.
        line = _BULLET.sub(lambda m: " " * (len(m.group(1)) // 2 * 2) + "• ", line)
        lines.append(_inline(line))
    # A line's leading spaces are its layout (an indented text sent as a welcome message):
    # only blank lines around the text go, and a run of 3 or more blank lines becomes 2.
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{4,}", "\n\n\n", text).strip("\n")


# ---------------------------------------------------------------- the pairs


def _truncate(value: str, limit: int) -> str:
    """Cut to at most `limit` UTF-8 bytes without splitting a character."""
    encoded = value.encode("utf-8")
    if len(encoded) <= limit:
        return value
    return encoded[: max(limit - 3, 0)].decode("utf-8", errors="ignore") + "…"


def _markdown_to_text(payload: dict, limits: Limits) -> list[dict]:
    return [{"content": _truncate(markdown_to_text(payload.get("content", "")), limits.text)}]


def _markdown_v2_to_markdown(payload: dict, limits: Limits) -> list[dict]:
    return [{"content": payload.get("content", "")}]


def _article_text(title: str, url: str, description: str = "") -> str:
    return "\n".join(part for part in (_link_text(title, url), description.strip()) if part)


def _news_to_link(payload: dict, limits: Limits) -> list[dict]:
    links = []
    for article in payload["articles"]:
        link = {"title": article["title"], "url": article["url"]}
        if article.get("description"):
            link["desc"] = article["description"]
        if article.get("picurl"):
            link["image_url"] = article["picurl"]
        links.append(link)
    return links


def _news_to_text(payload: dict, limits: Limits) -> list[dict]:
    text = "\n\n".join(
        _article_text(a["title"], a["url"], a.get("description", "")) for a in payload["articles"]
    )
    return [{"content": _truncate(text, limits.text)}]


def _link_to_news(payload: dict, limits: Limits) -> list[dict]:
    article = {"title": payload["title"], "url": payload["url"]}
    if payload.get("desc"):
        article["description"] = payload["desc"]
    if payload.get("image_url"):
        article["picurl"] = payload["image_url"]
    return [{"articles": [article]}]


def _link_to_text(payload: dict, limits: Limits) -> list[dict]:
    text = _article_text(payload["title"], payload["url"], payload.get("desc", ""))
    return [{"content": _truncate(text, limits.text)}]


def _miniprogram_to_link(payload: dict, limits: Limits) -> list[dict]:
    # A link needs a web address: only a page path that is one can be linked
    # to (WeChat's own mini program links work only inside WeChat).
    page = payload.get("page_path", "")
    parts = urlsplit(page)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CannotConvert(
            Reason(
                gettext_noop(
                    "miniprogram.page_path is not an http(s) URL that could be sent as a link "
                    "instead"
                )
            )
        )
    link = {"title": payload["title"], "url": page}
    if payload.get("appname"):
        link["desc"] = payload["appname"]
    if payload.get("thumb_url"):
        link["image_url"] = payload["thumb_url"]
    return [link]


def _miniprogram_to_notice(payload: dict, limits: Limits) -> list[dict]:
    # WeCom's app: a 小程序通知 card that opens the (linked) mini program at the page.
    notice = {"appid": payload["appid"], "page": payload["page_path"], "title": payload["title"]}
    if payload.get("appname"):
        notice["description"] = payload["appname"]
    return [notice]


# ---------------------------------------------------------------- text → markdown

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_LINE_START = re.compile(r"^(\s*)([#+-]|\d+(?=\.))(?=[\s.]|$)", re.MULTILINE)
# A line of dashes is a rule, and under a text (or a line of =) a heading's underline.
_RULE_OR_UNDERLINE = re.compile(r"^(\s*)([-=])(?=[-=]*\s*$)", re.MULTILINE)


def escape_markdown(content: str) -> str:
    """Plain text as markdown that renders the same text (nothing turns into formatting)."""
    content = _MARKDOWN_SPECIAL.sub(r"\\\1", content)
    content = _RULE_OR_UNDERLINE.sub(r"\1\\\2", content)
    # A heading, list item or numbered item at a line's start: escape its marker.
    return _LINE_START.sub(
        lambda m: m.group(1) + (m.group(2) + "\\" if m.group(2).isdigit() else "\\" + m.group(2)),
        content,
    )


def _text_to_markdown(payload: dict, limits: Limits) -> list[dict]:
    content = escape_markdown(payload.get("content", ""))
    mentions = [m for m in payload.get("mentioned_list") or [] if m != "@all"]
    if mentions:
        content = " ".join(f"<@{userid}>" for userid in mentions) + "\n" + content
    return [{"content": _truncate(content, limits.markdown)}]


# ---------------------------------------------------------------- → template cards


def _card(title: str, desc: str, action: dict, image_url: str = "") -> dict:
    card: dict = {"card_type": "news_notice" if image_url else "text_notice"}
    card["main_title"] = {"title": title, **({"desc": desc} if desc else {})}
    if image_url:
        card["card_image"] = {"url": image_url}
    card["card_action"] = action
    return card


def _link_to_card(payload: dict, limits: Limits) -> list[dict]:
    action = {"type": 1, "url": payload["url"]}
    return [_card(payload["title"], payload.get("desc", ""), action, payload.get("image_url", ""))]


def _news_to_cards(payload: dict, limits: Limits) -> list[dict]:
    return [
        _card(
            a["title"],
            a.get("description", ""),
            {"type": 1, "url": a["url"]},
            a.get("picurl", ""),
        )
        for a in payload["articles"]
    ]


def _miniprogram_to_card(payload: dict, limits: Limits) -> list[dict]:
    if not payload.get("appid") or not payload.get("page_path"):
        raise CannotConvert(
            Reason(gettext_noop("a mini program card needs miniprogram.appid and page_path"))
        )
    action = {"type": 2, "appid": payload["appid"], "pagepath": payload["page_path"]}
    return [
        _card(payload["title"], payload.get("appname", ""), action, payload.get("thumb_url", ""))
    ]


CONVERTERS: dict[tuple[str, str], Callable[[dict, Limits], list[dict]]] = {
    ("markdown", "text"): _markdown_to_text,
    ("markdown_v2", "text"): _markdown_to_text,
    ("markdown_v2", "markdown"): _markdown_v2_to_markdown,
    ("news", "link"): _news_to_link,
    ("news", "text"): _news_to_text,
    ("link", "news"): _link_to_news,
    ("link", "text"): _link_to_text,
    ("miniprogram", "link"): _miniprogram_to_link,
    ("miniprogram", "miniprogram_notice"): _miniprogram_to_notice,
    ("text", "markdown"): _text_to_markdown,
    ("link", "template_card"): _link_to_card,
    ("news", "template_card"): _news_to_cards,
    ("miniprogram", "template_card"): _miniprogram_to_card,
}


# ---------------------------------------------------------------- bare links


def _absolute(url: str) -> str:
    return links.web_link(url) or url  # any url validation accepts has one


def absolute_links(body: dict) -> dict:
    """`body` with its link's or news articles' `url` made absolute (`www.qq.com` →
    `http://www.qq.com`); a new dict, the stored body stays as sent."""
    msgtype = body["msgtype"]
    if msgtype == "link":
        payload = {**body["link"], "url": _absolute(body["link"]["url"])}
    elif msgtype == "news":
        articles = [{**a, "url": _absolute(a["url"])} for a in body["news"]["articles"]]
        payload = {**body["news"], "articles": articles}
    else:
        return body
    return {**body, msgtype: payload}


# ---------------------------------------------------------------- finding the way


def route(connector: type[Connector], msgtype: str, native: frozenset[str]) -> list[str] | None:
    """The msgtypes from `msgtype` to one sent natively ([msgtype] if it is), else None.

    Tries the connector's preferences in order, at most two steps deep.
    """
    if msgtype in native:
        return [msgtype]
    for target in connector.conversions.get(msgtype, ()):
        if target in native:
            return [msgtype, target]
    for target in connector.conversions.get(msgtype, ()):
        for second in connector.conversions.get(target, ()):
            if second in native and second != msgtype:
                return [msgtype, target, second]
    return None


def table(connector: type[Connector], native: frozenset[str] | None = None) -> dict[str, str]:
    """msgtype → what it is sent as, for docs and tests ("" when refused)."""
    from .base import ALL_MSGTYPES

    native = connector.native_msgtypes if native is None else native
    answer = {}
    for msgtype in sorted(ALL_MSGTYPES):
        way = route(connector, msgtype, native)
        answer[msgtype] = " → ".join(way) if way else ""
    return answer


def convert(connector: Connector, body: dict) -> Converted:
    """The bodies this bot's connector sends for a validated `body`; raises CannotConvert."""
    msgtype = body["msgtype"]
    if not connector.opens_bare_links:
        body = absolute_links(body)
    native = connector.msgtypes()
    way = route(type(connector), msgtype, native)
    if way is None:
        raise CannotConvert(
            Reason(
                gettext_noop(
                    "msgtype %(msgtype)s cannot be sent by a %(connector)s bot; it sends %(sends)s"
                ),
                msgtype=msgtype,
                connector=reasons.label(connector.label),
                sends=", ".join(sorted(native)),
            )
        )
    if len(way) == 1:
        return Converted([body], msgtype, steps=way)
    payloads = [body[msgtype]]
    for source, target in zip(way, way[1:], strict=False):
        step = CONVERTERS[(source, target)]
        try:
            payloads = [out for payload in payloads for out in step(payload, connector.limits)]
        except CannotConvert as error:
            raise CannotConvert(
                Reason(
                    gettext_noop(
                        "msgtype %(msgtype)s cannot be sent by a %(connector)s bot, and %(reason)s"
                    ),
                    msgtype=msgtype,
                    connector=reasons.label(connector.label),
                    reason=reasons.of(error),
                )
            ) from None
    sent_as = way[-1]
    note = f"sent as {sent_as}: this connector has no {msgtype}"
    if len(payloads) > 1:
        note = f"sent as {len(payloads)} {sent_as} messages: this connector has no {msgtype}"
    envelope = {key: body[key] for key in ENVELOPE_KEYS if key in body}
    bodies = [{"msgtype": sent_as, sent_as: p, **envelope} for p in payloads]
    return Converted(bodies, sent_as, note, way)
