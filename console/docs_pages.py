"""The documentation (docs/*.md) as console pages, so that an operator follows a setup
checklist's "How, in detail" link without the source tree: drawn with markdown-it (raw
HTML off), each heading with the anchor GitHub gives it, links between the documents
kept inside the console."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from markdown_it import MarkdownIt

DOCS = Path(settings.BASE_DIR) / "docs"
_NAME = re.compile(r"^[a-z0-9-]+$")
_DOC_LINK = re.compile(r"^(?P<name>[a-z0-9-]+)\.md(?P<anchor>#.*)?$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (as tests/test_docs_links.py checks links)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("**", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def page(name: str) -> tuple[str, str]:
    """(title, HTML) of docs/<name>.md; Http404 for any other name."""
    path = DOCS / f"{name}.md"
    if not _NAME.match(name) or not path.is_file():
        raise Http404
    return _drawn(path, path.stat().st_mtime)


@lru_cache(maxsize=32)
def _drawn(path: Path, _mtime: float) -> tuple[str, str]:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(path.read_text(encoding="utf-8"))
    seen: Counter[str] = Counter()
    title = path.stem
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            text = tokens[index + 1].content
            base = slug(text)
            token.attrSet("id", f"{base}-{seen[base]}" if seen[base] else base)
            seen[base] += 1
            if token.tag == "h1" and title == path.stem:
                title = text
        for child in token.children or ():
            if child.type == "link_open" and (link := _DOC_LINK.match(str(child.attrGet("href")))):
                url = reverse("console:docs", args=[link["name"]])
                child.attrSet("href", url + (link["anchor"] or ""))
    return title, md.renderer.render(tokens, md.options, {})
