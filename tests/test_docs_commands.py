"""docs/commands.md names every option of botadmin's management commands: each option
(by one of its spellings, `-o` or `--output`) appears beside its command's name, in the
same paragraph, table row or example block. Django's own options of a command botadmin
extends (`migrate`, `makemessages`) are Django's to document."""

from __future__ import annotations

import re
from importlib import import_module
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import BaseCommand

ROOT = Path(__file__).resolve().parents[1]
COMMANDS_DOC = ROOT / "docs/commands.md"


def botadmin_commands() -> list[tuple[str, str]]:
    """(app, command) of each command whose app is in this repository."""
    found = []
    for name, app in get_commands().items():
        folder = Path(import_module(app).__file__).resolve().parent
        if ROOT in folder.parents and ".venv" not in folder.relative_to(ROOT).parts:
            found.append((app, name))
    return sorted(found, key=lambda pair: pair[1])


def option_spellings(command: BaseCommand, name: str) -> set[tuple[str, ...]]:
    def actions(cls) -> set[tuple[str, ...]]:
        parser = cls().create_parser("manage.py", name)
        return {tuple(action.option_strings) for action in parser._actions if action.option_strings}

    inherited = next(
        cls for cls in type(command).__mro__[1:] if cls.__module__.startswith("django.")
    )
    return actions(type(command)) - actions(inherited)


def units(text: str) -> list[str]:
    """The document's paragraphs (an example block is one), a table row by row."""
    found = []
    for block in re.split(r"\n\s*\n", text):
        if block.lstrip().startswith("|"):
            found.extend(block.splitlines())
        else:
            found.append(block)
    return found


def mentions(unit: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", unit) is not None


@pytest.mark.parametrize(("app", "name"), botadmin_commands(), ids=lambda value: value)
def test_every_option_of_the_command_is_in_the_commands_doc(app, name):
    command = load_command_class(app, name)
    beside = [unit for unit in units(COMMANDS_DOC.read_text()) if mentions(unit, name)]
    assert beside, f"{name} is not in docs/commands.md"
    missing = [
        spellings
        for spellings in option_spellings(command, name)
        if not any(mentions(unit, spelling) for unit in beside for spelling in spellings)
    ]
    assert not missing, f"{name}: {missing}"


def test_the_check_sees_a_missing_option():
    text = (
        "`createbot` takes `--name-x`.\n\n| `rotatesecret` | `--grace-hours` |\n| `createbot` | x |"
    )
    beside = [unit for unit in units(text) if mentions(unit, "createbot")]
    assert [mentions(unit, "--name") for unit in beside] == [False, False]
    assert [mentions(unit, "--grace-hours") for unit in beside] == [False, False]
