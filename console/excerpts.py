"""A search result's excerpt: the part of a message's words around the first match."""

import re

ELLIPSIS = "…"


def terms_of(query) -> list[str]:
    return [word for word in str(query or "").split() if word]


def excerpt(text: str, terms: list[str], width: int = 240) -> str:
    """About `width` characters of `text` (whitespace collapsed) around the first of the
    `terms` it contains (case-insensitive), a quarter of it before the match; "…" where
    it was cut. The start of the text when no term is in it."""
    text = " ".join(str(text or "").split())
    if len(text) <= width:
        return text
    found = re.search("|".join(re.escape(t) for t in terms), text, re.IGNORECASE) if terms else None
    start = max(0, found.start() - width // 4) if found else 0
    start = min(start, len(text) - width)
    end = start + width
    return (ELLIPSIS if start else "") + text[start:end] + (ELLIPSIS if end < len(text) else "")
