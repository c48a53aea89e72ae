"""Chinese prose takes the full-width colon, with no space after it ("被拒绝：…"), not
English's ": ". A host:port or host:pid pattern, a URL and a time (12:30) keep theirs."""

import ast
import datetime as dt
import gettext
import re
from pathlib import Path

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

REPO = Path(__file__).resolve().parents[2]
# A Chinese character (or a full-width closing bracket) directly followed by ":".
HALF_WIDTH_AFTER_CHINESE = re.compile(r"[\u3400-\u9fff）」”]:")
# Formats, not prose: "主机:进程号" is host:pid, "https://主机:端口" a proxy's URL.
FORMATS = re.compile(r"主机:(进程号|端口)|进程号:标识")


def _catalogues() -> list[Path]:
    return sorted(
        path
        for path in REPO.glob("**/locale/zh_Hans/LC_MESSAGES/*.mo")
        if ".venv" not in path.parts and "var" not in path.parts
    )


def test_the_chinese_catalogues_use_the_full_width_colon_in_prose():
    found = []
    for path in _catalogues():
        with path.open("rb") as compiled:
            catalogue = gettext.GNUTranslations(compiled)._catalog
        for msgid, msgstr in catalogue.items():
            if HALF_WIDTH_AFTER_CHINESE.search(FORMATS.sub("", msgstr)):
                found.append((path.relative_to(REPO).parts[0], msgid, msgstr))
    assert len(_catalogues()) >= 8
    assert found == []


def test_no_template_puts_a_half_width_colon_after_a_translated_word():
    """`{% translate "refused" %}: …` reads "被拒绝: …" in Chinese; the colon belongs in
    the translated text ("refused: %(detail)s")."""
    templates = [
        path
        for path in REPO.glob("**/templates/**/*.html")
        if ".venv" not in path.parts and "var" not in path.parts
    ]
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for path in templates
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"%\}:", line)
    ]
    assert len(templates) > 100
    assert found == []


# What shows an operator a message: django.contrib.messages and ModelAdmin.message_user.
MESSAGE_CALLS = {"add_message", "debug", "info", "success", "warning", "error", "message_user"}


def _shown_messages(tree: ast.AST):
    """The calls in `tree` that show an operator a message: `messages.<level>(…)`,
    `messages.add_message(…)`, `self.message_user(…)`."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if node.func.attr in MESSAGE_CALLS and isinstance(owner, ast.Name):
            if owner.id == "messages" or node.func.attr == "message_user":
                yield node


def test_no_message_to_an_operator_joins_translated_words_with_a_half_width_colon():
    """`f"{bot.name}: {verdict}"` reads "告警: 连接失败" in Chinese; the colon belongs in a
    translated format string ("%(bot)s: %(verdict)s")."""
    sources = [
        path
        for path in REPO.glob("**/*.py")
        if not {".venv", "var", "tests", "bench"} & set(path.parts)
    ]
    found = []
    for path in sources:
        for call in _shown_messages(ast.parse(path.read_text(), str(path))):
            for part in ast.walk(call):
                if isinstance(part, ast.JoinedStr) and any(
                    isinstance(piece, ast.Constant) and ":" in piece.value for piece in part.values
                ):
                    found.append(f"{path.relative_to(REPO)}:{call.lineno}")
    assert len(sources) > 200
    assert found == []


def test_the_chart_bars_titles_read_with_a_full_width_colon_in_chinese(
    operator_client, group, make_message
):
    make_message(group, direction="in", created_at=timezone.now())

    page = operator_client.get(reverse("console:dashboard")).content.decode()
    assert re.search(r"<title>\S+ 收到：1</title>", page)
    operator_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = operator_client.get(reverse("console:dashboard")).content.decode()
    assert re.search(r"<title>\S+ inbound: 1</title>", page)


def test_the_admins_connection_line_reads_with_full_width_colons_in_chinese():
    # Three days back: the line shows the time with its date (clock_time), whatever today is
    # (and its year only when it is not this year's).
    now = timezone.now()
    at = (now - dt.timedelta(days=3)).replace(hour=12, minute=30, second=5)
    shown = f"{at:%m-%d} 12:30" if at.year == now.year else f"{at:%Y-%m-%d} 12:30"
    connection = {
        "state": "connected",
        "label": "已连接",
        "last_frame_at": at,
        "holder": "web-1:4242",
        "last_error": "boom",
        "last_error_at": at,
    }
    with translation.override("zh-hans"), timezone.override("UTC"):
        html = render_to_string(
            "admin/conversations/bot/connection.html", {"connection": connection}
        )
    assert f"最近一帧：{shown}" in html
    assert "租约持有者：web-1:4242" in html
    assert f"最近错误（{shown}）：boom" in html
