"""Where a click on a message takes its reader: the `url` of a link or a news article.

WeCom's group robot opens a link written without a scheme: its own documentation's
news example says `"url": "www.qq.com"` (document 99110, the 中秋节礼品领取 article),
and tools and SDKs copy it. botadmin accepts such a link when it is a host name (or an
IPv4 address) with an optional port, path, query and fragment, and nothing else: a
value with another scheme (`javascript:`, `data:`, `file:`, `mailto:`) or that does
not parse is refused. The robot gets the link as written (`Connector.opens_bare_links`);
everything else that needs an absolute URL (a bridge agent, WeCom's app and AI bots,
the console) gets `http://` + it, the scheme a browser assumes for a typed address.

Picture URLs (`picurl`, `image_url`, an image's `url`) are not links: botadmin
downloads some of them, so they stay http(s) URLs checked as before.
"""

import re
from urllib.parse import urlsplit

WEB_SCHEMES = ("http", "https")

# host, optional :port, then a path, query or fragment; no space, backslash or userinfo.
_BARE = re.compile(r"(?P<host>[^\s/?#:@\\]+)(?::(?P<port>\d{1,5}))?(?P<rest>[/?#][^\s\\]*)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
# A DNS label in any script (例子.中国 too): letters and digits, inner hyphens.
_LABEL = re.compile(r"[^\W_](?:[\w-]{0,61}[^\W_])?")
_TOP_LABEL = re.compile(r"[^\W\d_][\w-]*")


def is_web_url(value: str) -> bool:
    """An absolute http(s) URL with a host, and a port from 1 to 65535 if it names one.

    urlsplit takes a host with a space (`https://e .com/`) and drops a tab or line break
    wherever it is, so such a URL would be stored as written and fail only where it is
    opened or downloaded: its host must be printable without spaces, and no control
    character may be anywhere in it. A space in the path or query stays allowed, as a
    browser encodes it. urlsplit also drops spaces before the scheme (`" https://x.com"`),
    which would reach WeCom and the agents as written: the URL must start with its scheme."""
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError for one out of range or not a number
    except ValueError:
        return False
    return (
        parts.scheme in WEB_SCHEMES
        and bool(parts.netloc)
        and port != 0
        and parts.netloc.isprintable()
        and " " not in parts.netloc
        and _CONTROL.search(value) is None
        and not value.startswith(" ")
    )


def is_bare_link(value: str) -> bool:
    """A host[:port][/path] written without a scheme, as WeCom's robot takes (`www.qq.com`)."""
    match = _BARE.fullmatch(value)
    if match is None or not value.isprintable():
        return False
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        return False
    host = match["host"]
    if _IPV4.fullmatch(host):
        return all(int(part) < 256 for part in host.split("."))
    labels = host.split(".")
    return (
        len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and _TOP_LABEL.fullmatch(labels[-1]) is not None
    )


def is_link(value: str) -> bool:
    """What a link's or a news article's `url` may be: an http(s) URL or a bare host[/path]."""
    return is_web_url(value) or is_bare_link(value)


def web_link(value) -> str:
    """The absolute URL a click on the link `value` opens: an http(s) URL as it is,
    `http://` + a bare host[/path], and "" for anything else (never a link)."""
    value = value if isinstance(value, str) else ""
    if is_web_url(value):
        return value
    if is_bare_link(value):
        return f"http://{value}"
    return ""
