"""The documentation's links lead somewhere: every relative link in README.md,
CONTRIBUTING.md, docs/*.md and the translations (docs/zh-hans/*.md) names a file that
exists, and every #anchor a heading of the document it points into, as GitHub makes
anchors from headings, or as a translated heading names its own (`## 标题 {#anchor}`,
console/docs_pages.py)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "docs").glob("*/*.md")),
]
LONGEST_LINE = 400

FENCED = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\((?P<target><[^>]*>|[^)\s]+)[^)]*\)")
HEADING = re.compile(r"^ {0,3}(?P<level>#{1,6})[ \t]+(?P<text>.*?)[ \t#]*$", re.M)
OWN_ANCHOR = re.compile(r"\s*\{#(?P<id>[^\s{}]+)\}$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, …


def without_code(text: str) -> str:
    """The text with fenced blocks and code spans blanked out: a link or a heading in
    an example is no link or heading."""
    text = FENCED.sub(lambda m: "\n" * m[0].count("\n"), text)
    return CODE_SPAN.sub(lambda m: "x" * len(m[0]), text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (github-slugger): the rendered text in lower
    case, without punctuation, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").replace("**", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path: Path) -> list[tuple[int, str, str]]:
    """(level, anchor, own anchor or "") of each heading, in order; a repeated GitHub
    anchor gets -1, -2, … as on GitHub."""
    text = FENCED.sub("", path.read_text())
    seen: Counter[str] = Counter()
    found = []
    for match in HEADING.finditer(text):
        if own := OWN_ANCHOR.search(match["text"]):
            found.append((len(match["level"]), own["id"], own["id"]))
            continue
        base = slug(match["text"])
        found.append((len(match["level"]), f"{base}-{seen[base]}" if seen[base] else base, ""))
        seen[base] += 1
    return found


def anchors(path: Path) -> set[str]:
    """Every heading's anchor."""
    return {anchor for _level, anchor, _own in headings(path)}


def links(path: Path) -> list[tuple[int, str]]:
    text = without_code(path.read_text())
    return [
        (text.count("\n", 0, match.start()) + 1, match["target"].strip("<>"))
        for match in LINK.finditer(text)
    ]


def test_the_slugs_are_githubs():
    assert slug("What gunicorn answers itself") == "what-gunicorn-answers-itself"
    assert slug("Rotating `SECRET_KEY`") == "rotating-secret_key"
    assert slug("Reverse proxy: nginx") == "reverse-proxy-nginx"
    assert slug("POST /api/callback — report an inbound message") == (
        "post-apicallback--report-an-inbound-message"
    )
    assert slug("WeCom self-built app (自建应用)") == "wecom-self-built-app-自建应用"


def test_the_link_pattern_reads_what_the_documents_write():
    text = "see [`make lock`](CONTRIBUTING.md#adding-a-dependency) and `[no](link)`"
    assert [m["target"] for m in LINK.finditer(without_code(text))] == [
        "CONTRIBUTING.md#adding-a-dependency"
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(document):
    broken = []
    for line, target in links(document):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists():
            broken.append(f"line {line}: {target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"line {line}: {target}: no heading makes #{anchor}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_line_is_a_wall_of_text(document):
    long = [
        number
        for number, line in enumerate(document.read_text().splitlines(), 1)
        if len(line) > LONGEST_LINE
    ]
    assert not long, (
        f"lines over {LONGEST_LINE} characters (wrap them, or move a table cell's detail below the table): {long}"
    )
