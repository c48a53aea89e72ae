"""One URL however its case-insensitive parts are written: `HTTPS://Hooks.Example.com:443/in`
is `https://hooks.example.com/in` (RFC 3986 6.2.2, 6.2.3). The path, the query and the user
part are kept as written: a server may tell `/in` from `/In` and `/in/` (the last one is a
`trailing_slash_apart` pair, which only a person can tell to be the same)."""

from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalized_url(url: str) -> str:
    """`url` with its scheme and host in lower case, without the scheme's default port, and
    `/` for an empty path (a request for `https://h` asks for `/`). A URL that does not
    split (a port that is no number) is returned as given: the URL checks refuse it."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or host is None:
        return url
    user, at, _ = parts.netloc.rpartition("@")
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = f"{user}{at}{host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment))


def trailing_slash_apart(url: str, other: str) -> bool:
    """Whether the two URLs differ only by a `/` at the end of the path (`https://h/in` and
    `https://h/in/`), once normalised."""
    try:
        one, two = (urlsplit(normalized_url(u)) for u in (url, other))
    except ValueError:
        return False
    shorter, longer = sorted((one.path, two.path), key=len)
    return one._replace(path="") == two._replace(path="") and longer == shorter + "/"
