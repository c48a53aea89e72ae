"""The documentation (docs/*.md) as console pages, so that an operator follows a setup
checklist's "How, in detail" link without the source tree: drawn with markdown-it (raw
HTML off), each heading with the anchor GitHub gives it, links between the documents
kept inside the console.

A document translated for operators is served in the reader's language:
docs/<language>/<name>.md (docs/zh-hans/bots.md). Its headings name their anchors
themselves, `## 标题 {#english-anchor}`, the English document's, so that a link into a
section lands there in either language; a document without a translation is served in
English. tests/test_docs_translations.py keeps the translations in step with English.

README.md and CONTRIBUTING.md, at the top of the source tree, are served too (`readme`,
`contributing`, in English), since the documents link to them; a link is resolved from
the document's own folder, as GitHub resolves it."""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils import translation
from markdown_it import MarkdownIt

from console.markdown import aligned_by_class

DOCS = Path(settings.BASE_DIR) / "docs"
_NAME = re.compile(r"^[a-z0-9-]+$")
# The documents outside docs/ that docs/ links to, by the name the console serves them as.
TOP_LEVEL = {"readme": "README.md", "contributing": "CONTRIBUTING.md"}
# A heading's own anchor, at its end: `## 在企业微信管理后台 {#in-wecoms-admin-console}`.
HEADING_ID = re.compile(r"\s*\{#(?P<id>[^\s{}]+)\}\s*$")


@dataclass(frozen=True)
class Page:
    title: str
    html: str
    # The language the page is written in: the reader's, or English when the
    # document has no translation into it (`untranslated`).
    language: str
    untranslated: bool = False


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (as tests/test_docs_links.py checks links)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("**", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def translation_path(name: str, language: str) -> Path:
    return DOCS / language.lower() / f"{name}.md"


def _english_path(name: str) -> Path:
    if name in TOP_LEVEL:
        return DOCS.parent / TOP_LEVEL[name]
    return DOCS / f"{name}.md"


def page(name: str, language: str | None = None) -> Page:
    """docs/<name>.md (or README.md, CONTRIBUTING.md) drawn in `language` (the active
    one) where it is translated, else in English; Http404 for any other name."""
    if not _NAME.match(name):
        raise Http404
    english = _english_path(name)
    if not english.is_file():
        raise Http404
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    if not language.startswith("en") and name not in TOP_LEVEL:
        translated = translation_path(name, language)
        if translated.is_file():
            title, html = _drawn(translated, translated.stat().st_mtime)
            return Page(title, html, language)
    title, html = _drawn(english, english.stat().st_mtime)
    return Page(title, html, "en", untranslated=not language.startswith("en"))


def console_link(document: Path, href: str) -> str | None:
    """The console's address of what a link in `document` points to, when it is one of
    the documents served here (resolved from the document's folder, as on GitHub:
    `../README.md` from docs/, `../../README.md` from docs/zh-hans/, `docs/api.md` from
    README.md; a folder of documents, `docs/zh-hans/`, is README's list of them); None
    for any other link."""
    path, _, anchor = href.partition("#")
    if not path or "://" in path or path.startswith(("/", "mailto:")):
        return None
    root = DOCS.parent
    target = Path(posixpath.normpath(posixpath.join(document.parent.as_posix(), path)))
    if path.endswith("/") and (target == DOCS or target.parent == DOCS) and target.is_dir():
        return reverse("console:docs", args=["readme"]) + "#documentation"
    name = None
    if target.parent == root:
        name = next((n for n, file in TOP_LEVEL.items() if target.name == file), None)
    elif target.suffix == ".md" and (target.parent == DOCS or target.parent.parent == DOCS):
        name = target.stem
    if name is None or not _NAME.match(name) or not _english_path(name).is_file():
        return None
    return reverse("console:docs", args=[name]) + (f"#{anchor}" if anchor else "")


@lru_cache(maxsize=32)
def _drawn(path: Path, _mtime: float) -> tuple[str, str]:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(path.read_text(encoding="utf-8"))
    seen: Counter[str] = Counter()
    title = path.stem
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            text = _own_anchor(token, tokens[index + 1])
            if not token.attrGet("id"):
                base = slug(text)
                token.attrSet("id", f"{base}-{seen[base]}" if seen[base] else base)
                seen[base] += 1
            if token.tag == "h1" and title == path.stem:
                title = text
        if token.type in ("th_open", "td_open"):
            aligned_by_class(token)
        if token.type == "th_open" and not tokens[index + 1].content.strip():
            # A header row's empty corner (`| | p50 | p95 |`) names nothing: a plain cell,
            # not an empty table header, which screen readers announce as a blank.
            token.tag = tokens[index + 2].tag = "td"
        if token.children:
            _join_wide_lines(token.children)
        for child in token.children or ():
            if child.type == "link_open" and (
                url := console_link(path, str(child.attrGet("href")))
            ):
                child.attrSet("href", url)
    return title, md.renderer.render(tokens, md.options, {})


def _own_anchor(heading, inline) -> str:
    """The heading's text; a `{#id}` at its end is taken off and becomes its id."""
    match = HEADING_ID.search(inline.content)
    last = inline.children[-1] if inline.children else None
    if not match or last is None or last.type != "text" or not HEADING_ID.search(last.content):
        return inline.content
    heading.attrSet("id", match["id"])
    last.content = HEADING_ID.sub("", last.content)
    inline.content = HEADING_ID.sub("", inline.content)
    return inline.content


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("F", "W") and not (
        "\uac00" <= char <= "\ud7a3"  # Hangul keeps its spaces
    )


def _join_wide_lines(children) -> None:
    """A line break of the source between two Chinese characters is no space: a
    browser would draw one in the middle of a sentence (as CSS Text 4 asks it not to)."""
    for index, child in enumerate(children):
        if child.type != "softbreak":
            continue
        # The text on each side, past markup without text of its own (`**`, a link's start).
        before = next((c.content for c in reversed(children[:index]) if c.content), "")
        after = next((c.content for c in children[index + 1 :] if c.content), "")
        if before and after and _wide(before[-1]) and _wide(after[0]):
            child.type, child.content = "text", ""
