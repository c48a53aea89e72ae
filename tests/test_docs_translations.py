"""The translations of the documentation (docs/<language>/<name>.md, served by the
console in the reader's language) stay in step with English: each keeps the English
document's headings, level by level, each naming the English anchor
(`## 标题 {#anchor}`), so a link into a section lands there in either language; and
each records, in its folder's sources.txt, the git blob of the English text it was
translated from, so a change to the English document fails here until the
translation follows it. A translation speaks the console's words."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from .test_docs_links import CODE_SPAN, FENCED, headings
from .test_translations import BARE_GROUP, LATIN_BOT, SYNONYMS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TRANSLATIONS = sorted(DOCS.glob("*/*.md"))


def git_blob(path: Path) -> str:
    """What `git hash-object PATH` prints: the id git gives the file's content."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 (git's id)


def recorded_sources(folder: Path) -> dict[str, str]:
    """sources.txt of a translations folder: `NAME.md BLOB` a line, # comments."""
    sources = {}
    for line in (folder / "sources.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, blob = line.split()
            sources[name] = blob
    return sources


def test_there_are_translations():
    assert (DOCS / "zh-hans" / "bots.md") in TRANSLATIONS


@pytest.mark.parametrize("translation", TRANSLATIONS, ids=lambda p: str(p.relative_to(DOCS)))
def test_a_translation_has_the_english_headings_with_their_anchors(translation):
    english = DOCS / translation.name
    assert english.is_file(), f"{translation.relative_to(ROOT)} translates no docs/*.md"
    expected = [(level, anchor) for level, anchor, _own in headings(english)]
    found = headings(translation)

    without_anchor = [anchor for _level, anchor, own in found if not own]
    assert not without_anchor, (
        f"headings of {translation.relative_to(ROOT)} without their English anchor "
        f"(`## 标题 {{#anchor}}`): {without_anchor}"
    )
    assert [(level, anchor) for level, anchor, _own in found] == expected, (
        f"{translation.relative_to(ROOT)} must have the headings of docs/{english.name}, "
        "in the same order and at the same levels, each ending in {#its English anchor}"
    )


@pytest.mark.parametrize("translation", TRANSLATIONS, ids=lambda p: str(p.relative_to(DOCS)))
def test_a_translation_keeps_the_english_code_samples(translation):
    """Integrators copy the samples whichever language they read: every fenced block
    (curl commands, JSON bodies, URLs) is the English document's, in its order."""
    english = DOCS / translation.name
    samples = [block[0] for block in FENCED.finditer(english.read_text())]
    kept = [block[0] for block in FENCED.finditer(translation.read_text())]
    assert kept == samples, (
        f"{translation.relative_to(ROOT)} must have the fenced code blocks of "
        f"docs/{english.name}, unchanged and in the same order"
    )


@pytest.mark.parametrize("folder", sorted({t.parent for t in TRANSLATIONS}), ids=lambda p: p.name)
def test_each_translation_records_the_english_text_it_was_made_from(folder):
    sources = recorded_sources(folder)
    translated = sorted(path.name for path in folder.glob("*.md"))
    assert sorted(sources) == translated, (
        f"{folder.relative_to(ROOT)}/sources.txt must name each translation once"
    )
    stale = []
    for name, blob in sources.items():
        now = git_blob(DOCS / name)
        if blob != now:
            stale.append(
                f"docs/{name} changed since {folder.name}/{name} was translated from it: "
                f"`git cat-file -p {blob[:12]} | diff -u - docs/{name}` shows what changed; "
                f"bring the translation up to date, then record {now} for it in "
                f"{folder.relative_to(ROOT)}/sources.txt"
            )
    assert not stale, "\n".join(stale)


# WeCom's own names, which the documents quote as its admin console and client show them:
# a group chat's 群设置, the contacts secret of 管理工具 → 通讯录同步.
WECOM_NAMES = re.compile(r"群设置|通讯录同步")
# Where a link points, a heading's anchor and a document's file name are no text.
NOT_TEXT = re.compile(r"\]\([^)]*\)|\{#[^}]*\}|docs/[\w/-]+\.md")


@pytest.mark.parametrize("translation", TRANSLATIONS, ids=lambda p: str(p.relative_to(DOCS)))
def test_a_translation_uses_the_consoles_words(translation):
    """One word for one thing, as in the console's catalogues (tests/test_translations.py):
    群聊, 操作员, 联系人同步, 机器人."""
    found = []
    text = FENCED.sub(lambda m: "\n" * m[0].count("\n"), translation.read_text())
    text = CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", "x", m[0]), text)  # lines kept
    for number, line in enumerate(text.splitlines(), 1):
        text = NOT_TEXT.sub("]", WECOM_NAMES.sub("", line))
        found += [
            f"line {number}: {word} → {use}" for word, use in SYNONYMS.items() if word in text
        ]
        if BARE_GROUP.search(text):
            found.append(f"line {number}: 群 → 群聊")
        if LATIN_BOT.search(text):
            found.append(f"line {number}: bot → 机器人")
    assert not found, "\n".join(found)
