"""The two locks (CONTRIBUTING.md, "Adding a dependency"): requirements.lock, with the dev
extra, for developers and CI; requirements-prod.lock, what production hosts install
(`make venv-prod`): botadmin's runtime dependencies, at the versions the tests ran with,
and none of the tests' and tools' packages."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import sys
import tomllib

from packaging.requirements import Requirement

from devtools.processes import ROOT
from devtools.unlocked_packages import normalized

DEV_LOCK = ROOT / "requirements.lock"
PROD_LOCK = ROOT / "requirements-prod.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def pins(lock) -> dict[str, str]:
    return {
        normalized(name): version
        for name, version in re.findall(r"^([A-Za-z0-9][^=\s]*)==(\S+)", lock.read_text(), re.M)
    }


def requirement_names(requirements: list[str]) -> set[str]:
    return {normalized(REQUIREMENT_NAME.match(line).group(0)) for line in requirements}


def lock_command(lock) -> list[str]:
    """The pip-compile command in the lock's header."""
    line = next(line for line in lock.read_text().splitlines() if "#    pip-compile " in line)
    return shlex.split(line.lstrip("# "))


def test_a_package_pinned_in_both_locks_has_the_same_version_in_both():
    dev, prod = pins(DEV_LOCK), pins(PROD_LOCK)

    assert prod, "requirements-prod.lock pins nothing"
    assert {name: (version, dev.get(name)) for name, version in prod.items()} == {
        name: (version, version) for name, version in prod.items()
    }


def test_the_runtime_lock_has_the_runtime_dependencies_and_none_of_the_tests_and_tools():
    runtime = requirement_names(PYPROJECT["project"]["dependencies"])
    dev_only = requirement_names(PYPROJECT["project"]["optional-dependencies"]["dev"]) - runtime
    prod = set(pins(PROD_LOCK))

    assert runtime - prod == set()
    assert dev_only & prod == set()
    assert {"pytest", "playwright", "ruff", "hypothesis", "moto", "schemathesis"} <= dev_only


def test_every_package_of_the_runtime_lock_is_there_for_a_runtime_dependency():
    """What a dev tool alone pulls in (moto's `flask`, schemathesis' `hypothesis`) stays out."""
    text = PROD_LOCK.read_text()
    needed_by = {
        normalized(name): set(re.findall(r"^    #\s+(?:via\s+)?(\S.*)$", block, re.M))
        for name, block in re.findall(r"^([A-Za-z0-9][^=\s]*)==\S+\n((?:    #.*\n)*)", text, re.M)
    }
    prod = set(needed_by)
    for name, sources in needed_by.items():
        sources = {source.strip() for source in sources} - {"via", "-c requirements.lock"}
        reasons = {normalized(source) for source in sources} & prod
        assert "botadmin (pyproject.toml)" in sources or reasons, (name, sources)


def test_make_lock_writes_both_locks_with_the_commands_in_their_headers():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.partition("\nlock:")[2].partition("\n\n")[0]
    commands = [
        shlex.split(line.strip().replace("$(PIP_TOOLS)/bin/", "").replace(" $(LOCK_ARGS)", ""))
        for line in recipe.splitlines()
        if "pip-compile " in line and "test -x" not in line
    ]

    assert commands == [lock_command(DEV_LOCK), lock_command(PROD_LOCK)]
    assert "--extra=dev" in lock_command(DEV_LOCK)
    assert not any(part.startswith("--extra") for part in lock_command(PROD_LOCK))
    assert "--constraint=requirements.lock" in lock_command(PROD_LOCK)


def test_the_product_imports_only_what_the_runtime_lock_installs():
    """A module of the apps (not the tests, benches or devtools) importing a package only
    the dev extra brings (yaml, moto's `flask`) works in development and fails on
    production hosts alone."""
    ours = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    product = sorted(ours - {"tests", "bench", "devtools"})
    distributions = importlib.metadata.packages_distributions()
    prod = set(pins(PROD_LOCK))
    outside = {}
    for path in [ROOT / "manage.py", *(p for app in product for p in (ROOT / app).rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.partition(".")[0] for name in names}:
                if top in ours or top in sys.stdlib_module_names or top == "__future__":
                    continue
                provided = {normalized(name) for name in distributions.get(top, [])}
                if not provided & prod:
                    outside.setdefault(top, []).append(str(path.relative_to(ROOT)))

    assert outside == {}


def test_the_runtime_lock_has_what_the_redis_broker_imports():
    """Production runs on Redis (docs/install.md), whose Celery transport,
    `kombu.transport.redis`, imports `packaging`: a dependency of kombu's `redis` extra
    only. Without it in the runtime lock, every worker and beat on a host set up with
    `make venv-prod` failed to start and web could not publish a task
    (`ModuleNotFoundError: No module named 'packaging'`), while `make venv` (pytest
    brings `packaging`) hid it."""
    prod = set(pins(PROD_LOCK))
    redis_extra = {
        normalized(requirement.name)
        for requirement in map(Requirement, importlib.metadata.requires("kombu") or [])
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "redis"})
    }

    assert "packaging" in redis_extra
    assert redis_extra - prod == set()
