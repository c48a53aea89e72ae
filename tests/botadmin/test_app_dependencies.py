"""Dependencies between the apps point one way.

console → deletions → announcements, forwarding → messaging → conversations, connectors → media.
`conversations` and `connectors` use each other (a bot's connector; a connector's
bot and its long connection); neither uses messaging or the apps above it. An
app that imports one above it makes a cycle a reader has to untangle; an app
tells the apps built on it what happened through its signals instead
(`messaging.signals`, `conversations.signals`). Model references by string
(`"announcements.AnnouncementRun"` on `Message.announcement_run`) are not
imports and are not checked here.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# app → the apps it must not import
FORBIDDEN = {
    # The media store is below every app: it keeps bytes, and knows no message or bot.
    "media": {"conversations", "messaging", "announcements", "forwarding", "deletions", "console"},
    "messaging": {"announcements", "forwarding", "deletions", "console"},
    "conversations": {"messaging", "announcements", "forwarding", "deletions", "console"},
    "connectors": {"messaging", "announcements", "forwarding", "deletions", "console"},
    "announcements": {"forwarding", "deletions", "console"},
    "forwarding": {"announcements", "deletions", "console"},
    # Deletions empties every app's tables; only the console and the admin start one.
    "deletions": {"console"},
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by a file, with their line numbers; relative
    imports are resolved against the file's package, and import_module("…") calls
    with a literal name count too."""
    package = list(path.relative_to(ROOT).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.append((node.lineno, module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


# Known exceptions, file → the apps it still imports: the inbound storing of the WeCom
# app's callback and of the AI bot's gateway stores messages and card task ids through
# messaging. It belongs in messaging (code-health review #3); no other module may.
NOT_YET_MOVED = {
    "connectors/aibot_inbound.py": {"messaging"},
    "connectors/aibot_sending.py": {"messaging"},
    "connectors/wecom_app_callback.py": {"messaging"},
}


def violations(app: str) -> list[str]:
    return [
        f"{relative}:{line} imports {module}"
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
        for relative in [path.relative_to(ROOT).as_posix()]
        for line, module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN[app] - NOT_YET_MOVED.get(relative, set())
    ]


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_an_app_imports_none_of_the_apps_built_on_it(app):
    assert violations(app) == []


@pytest.mark.parametrize("relative", sorted(NOT_YET_MOVED))
def test_each_known_exception_is_still_needed(relative):
    """An exception whose import moved away is removed from the list, so it cannot return."""
    imported = {module.split(".")[0] for _line, module in imported_modules(ROOT / relative)}
    assert NOT_YET_MOVED[relative] <= imported


def test_the_check_sees_relative_and_absolute_imports(tmp_path, monkeypatch):
    """The scan itself: a forbidden import in any spelling is reported."""
    app = tmp_path / "messaging"
    (app / "sub").mkdir(parents=True)
    (app / "a.py").write_text("import forwarding.webhook_delivery\n")
    (app / "sub" / "b.py").write_text("from announcements.models import Announcement\n")
    (app / "c.py").write_text(
        "from importlib import import_module\nimport_module('console.views')\n"
    )
    (app / "d.py").write_text("from .models import Message\nfrom conversations import models\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert violations("messaging") == [
        "messaging/a.py:1 imports forwarding.webhook_delivery",
        "messaging/c.py:2 imports console.views",
        "messaging/sub/b.py:1 imports announcements.models",
    ]
