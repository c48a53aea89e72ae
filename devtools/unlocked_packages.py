"""`make venv-prod`: the packages installed in this interpreter's environment that a lock
file does not pin, one line with their names (empty when there is none), for
`pip uninstall`.

`pip install -r requirements-prod.lock` adds and moves packages but removes none: a
.venv once made by `make venv` would keep the tests' and tools' packages (pytest,
playwright, moto…) on a production host. Standard library only: it runs on the .venv
being made, before or after anything is installed there.

    .venv/bin/python devtools/unlocked_packages.py requirements-prod.lock
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

# What a virtualenv is made with: never the lock's to remove.
INSTALLER_PACKAGES = {"pip", "setuptools", "wheel"}


def normalized(name: str) -> str:
    """The name as PyPI compares names (PEP 503): `Typing_Extensions` is `typing-extensions`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(lock: Path) -> set[str]:
    """The names a pip-compile output pins (`name==version` at the start of a line)."""
    return {
        normalized(line.split("==", 1)[0])
        for line in lock.read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }


def unlocked(lock: Path) -> list[str]:
    installed = {normalized(dist.metadata["Name"]) for dist in metadata.distributions()}
    return sorted(installed - pinned(lock) - INSTALLER_PACKAGES)


if __name__ == "__main__":
    print(" ".join(unlocked(Path(sys.argv[1]))))
