"""The console speaks Simplified Chinese: no operator-visible string is left in English.

`manage.py makemessages -l zh_Hans` is run on a copy of the tracked source (so the
working tree is not touched); every catalogue it writes must then have no
untranslated and no fuzzy entry, and be the committed catalogue itself: the committed
catalogues are that command's output, translated, in its order (`make messages`), so
running it after a change adds the new texts and moves nothing else.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not (shutil.which("xgettext") and shutil.which("msgattrib")),
    reason="GNU gettext (xgettext, msgattrib) is not installed: apt-get install gettext",
)


def _tracked_source() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    names = [name for name in listed.decode().split("\0") if name]
    return [name for name in names if not name.startswith(("tests/", "bench/"))]


def _msgids(po_file: Path, *flags: str) -> list[str]:
    """The msgids msgattrib selects with `flags`, header excluded."""
    out = subprocess.run(
        ["msgattrib", "--no-obsolete", "--no-wrap", *flags, str(po_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ids = [line[len('msgid "') : -1] for line in out.splitlines() if line.startswith('msgid "')]
    return [msgid for msgid in ids if msgid]


def test_makemessages_leaves_no_untranslated_or_fuzzy_entry(tmp_path):
    copy = tmp_path / "src"
    for name in _tracked_source():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)

    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--verbosity", "0"],
        cwd=copy,
        check=True,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "BOTADMIN_VAR_DIR": str(tmp_path / "var")},
    )

    problems = []
    for po_file in sorted(copy.glob("**/locale/zh_Hans/LC_MESSAGES/django.po")):
        where = po_file.relative_to(copy)
        problems += [f"{where}: untranslated: {m}" for m in _msgids(po_file, "--untranslated")]
        problems += [f"{where}: fuzzy: {m}" for m in _msgids(po_file, "--only-fuzzy")]
        if not problems and po_file.read_text() != (REPO / where).read_text():
            problems.append(f"{where}: not as makemessages writes it (run `make messages`)")
    assert not problems, "\n".join(problems)


# Half-width punctuation that Chinese text legitimately keeps: a literal comma the
# operator must type, and a format spelled out.
HALF_WIDTH_KEPT = ["用英文逗号（,）分隔", "主机:进程号:标识", "（主机:进程号）"]


def test_chinese_translations_use_full_width_punctuation():
    """，：；？！（） next to Chinese text, not , : ; ? ! ( ) (placeholders and URLs aside);
    and ； in Chinese text also between two Latin words ("用户 ID;@all 提醒所有人")."""
    cjk = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
    placeholder = re.compile(r"%\([a-z_]+\)[sdf]|%[sd]|\{[^}]*\}|https?://\S+|<[^>]+>")
    half = re.compile(
        rf"(?<=[{cjk}])\s?[,:;?!()]|[,:;?!()]\s?(?=[{cjk}])|(?s:[{cjk}].*;|;.*[{cjk}])"
    )
    found = []
    for po_file in sorted(REPO.glob("*/locale/zh_Hans/LC_MESSAGES/*.po")) + sorted(
        REPO.glob("locale/zh_Hans/LC_MESSAGES/*.po")
    ):
        for msgstr in _msgstrs(po_file):
            if any(kept in msgstr for kept in HALF_WIDTH_KEPT):
                continue
            if half.search(placeholder.sub("", msgstr)):
                found.append(f"{po_file.relative_to(REPO)}: {msgstr}")
    assert found == []


# One word for one thing across the Chinese UI: the contact sync table said 群组 where
# the conversation tabs say 群聊, the audit log's tab 运营操作 where its column says 操作员.
# The words to avoid, with the one we use instead.
SYNONYMS = {
    "群组": "群聊",
    "运营": "操作员",
    "通讯录同步": "联系人同步",
    # The audit log's object column said 群发公告 where the menu and pages say 公告.
    "群发公告": "公告",
}
# 群 alone is a group chat too: it is written 群聊, except in WeCom's own compounds
# (群机器人 the group robot, 群主 its owner, 群发 a mass send).
BARE_GROUP = re.compile(r"群(?!聊|机器人|主|发|组)")  # 群组: in SYNONYMS
# "bot" in Chinese text is 机器人 (botadmin, WeCom's BotID and placeholders aside).
LATIN_BOT = re.compile(r"(?i)(?<![a-z])bots?(?![a-z])")


def test_chinese_translations_use_one_word_for_groups_operators_and_bots():
    # Placeholders and the documentation's file names (docs/bots.md) aside.
    placeholder = re.compile(r"%\([a-z_]+\)[sdf]|docs/[\w-]+\.md")
    found = []
    for po_file in sorted(REPO.glob("*/locale/zh_Hans/LC_MESSAGES/*.po")) + sorted(
        REPO.glob("locale/zh_Hans/LC_MESSAGES/*.po")
    ):
        for msgstr in _msgstrs(po_file):
            text = placeholder.sub("", msgstr)
            where = f"{po_file.relative_to(REPO)}: {msgstr}"
            found += [f"{where} ({word} → {use})" for word, use in SYNONYMS.items() if word in text]
            if BARE_GROUP.search(text):
                found.append(f"{where} (群 → 群聊)")
            if LATIN_BOT.search(text):
                found.append(f"{where} (bot → 机器人)")
    assert found == []


def _msgstrs(po_file: Path) -> list[str]:
    out = subprocess.run(
        ["msgattrib", "--no-obsolete", "--no-wrap", str(po_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        line.split('"', 1)[1][:-1]
        for line in out.splitlines()
        if line.startswith("msgstr") and '"' in line
    ]


# msgids two catalogues translate differently where the one that wins (Django's,
# then the first app in INSTALLED_APPS; the top-level locale/ over all) reads as well.
SHADOWED_ON_PURPOSE = {
    "active",
    "Admin",
    "agent URL",
    "robot webhook key",
    "running",
    "Sync in progress…",
    "works until %(when)s",
}


def _entries(po_file: Path) -> dict[str, str]:
    """msgid → msgstr of the translated entries without a context or a plural."""
    out = subprocess.run(
        ["msgattrib", "--no-obsolete", "--no-wrap", "--translated", str(po_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entries, msgid, plain = {}, None, True
    for line in out.splitlines():
        if line.startswith(("msgctxt ", "msgid_plural ")):
            plain = False
        elif line.startswith('msgid "'):
            msgid = line[len('msgid "') : -1].replace('\\"', '"')
        elif line.startswith('msgstr "'):
            if plain and msgid:
                entries[msgid] = line[len('msgstr "') : -1].replace('\\"', '"')
            msgid, plain = None, True
        elif not line.strip():
            msgid, plain = None, True
    return entries


def test_no_catalogue_replaces_an_apps_translation_with_another_meaning():
    """Django merges the catalogues into one: for a msgid two of them translate, the
    earlier one's translation is shown everywhere (the rotate page's "Secret" read
    "应用的 Secret", the self-built app's "stored" callback "存储时间"). A msgid whose
    translation depends on the page takes a context."""
    from django.utils import translation

    shadowed = []
    with translation.override("zh-hans"):
        for po_file in sorted(REPO.glob("*/locale/zh_Hans/LC_MESSAGES/django.po")):
            for msgid, msgstr in _entries(po_file).items():
                shown = translation.gettext(msgid)
                if shown != msgstr and msgid not in SHADOWED_ON_PURPOSE:
                    shadowed.append(f"{po_file.relative_to(REPO)}: {msgid!r} shows {shown!r}")
    assert shadowed == []


def _catalogue(mo_file: Path) -> dict:
    import gettext

    with mo_file.open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)


def test_every_compiled_catalogue_matches_its_source(tmp_path):
    """The committed .mo is what the app reads: one older than its .po (compilemessages
    skips a .mo newer than its .po, as after a rebase) shows stale or English texts."""
    stale = []
    sources = [*REPO.glob("locale/zh_Hans/LC_MESSAGES/django*.po")]
    sources += REPO.glob("*/locale/zh_Hans/LC_MESSAGES/django*.po")
    for po_file in sorted(sources):
        fresh = tmp_path / "fresh.mo"
        subprocess.run(["msgfmt", "-o", str(fresh), str(po_file)], check=True)
        committed = po_file.with_suffix(".mo")
        if not committed.exists() or _catalogue(committed) != _catalogue(fresh):
            stale.append(str(committed.relative_to(REPO)))
    assert stale == [], "run compilemessages after touching these .po files"
