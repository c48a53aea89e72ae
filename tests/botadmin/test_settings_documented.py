"""Every environment variable botadmin reads has one row in docs/configuration.md's
tables, and the row names the default the code really has."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = ROOT / "docs" / "configuration.md"
APPS = [
    "botadmin",
    "conversations",
    "messaging",
    "announcements",
    "forwarding",
    "connectors",
    "console",
    "audit",
    "media",
    "benchviews",
]
# Read by the code but not settings an operator chooses.
INTERNAL = {
    "DJANGO_SETTINGS_MODULE",  # set by manage.py, wsgi.py and celery.py
    "PROMETHEUS_MULTIPROC_DIR",  # derived from BOTADMIN_METRICS_DIR per process
    "PYTEST_XDIST_WORKER",  # set by pytest-xdist: one database per test process
    # Set, not read, by botadmin/natural_order.py: how pypinyin loads its dictionaries.
    "PYPINYIN_NO_PHRASES",
    "PYPINYIN_NO_DICT_COPY",
}
# Defaults documented as what happens, not as a value: the code's default is empty.
GENERATED = {"SECRET_KEY", "BOTADMIN_ADMIN_PASSWORD"}
# Defaults the code computes from the machine, documented as the formula.
FORMULAS = {"WEB_CONCURRENCY": ("min(4, multiprocessing.cpu_count() * 2)", "min(4, 2×cores)")}
READS = re.compile(
    r"""\benv(?:\.\w+|_int|_float|_bool)?\(\s*["'](?P<env>[A-Z][A-Z0-9_]+)["']"""
    r"""|\benviron(?:\.get\(|\.setdefault\(|\[)\s*["'](?P<environ>[A-Z][A-Z0-9_]+)["']"""
)
ROW = re.compile(r"^\| (?P<name>[^|]*?) \| (?P<default>[^|]*?) \| (?P<meaning>.*) \|$", re.M)
ONE_VARIABLE = re.compile(r"^`(?P<name>[A-Z][A-Z0-9_]+)`$")

# Imports the settings in an empty environment (no .env file either), recording the
# default each env.<type>("NAME", default=…) and env_int / env_float / env_bool("NAME",
# default) call gives.
RECORD_DEFAULTS = """
import json, environ
from botadmin import env_booleans, env_numbers
environ.Env.read_env = classmethod(lambda cls, *args, **kwargs: None)
seen = {}
read = environ.Env.get_value
def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
    if default is not environ.Env.NOTSET:
        seen.setdefault(var, default)
    return read(self, var, cast=cast, default=default, parse_default=parse_default)
environ.Env.get_value = get_value
def recording(reader):
    def read_number(name, default, **kwargs):
        seen.setdefault(name, default)
        return reader(name, default, **kwargs)
    return read_number
env_numbers.env_int = recording(env_numbers.env_int)
env_numbers.env_float = recording(env_numbers.env_float)
env_booleans.env_bool = recording(env_booleans.env_bool)
import botadmin.settings
print(json.dumps(seen, default=str))
"""
READERS = {"env_int", "env_float", "env_bool"}


def source_files():
    for app in APPS:
        yield from sorted((ROOT / app).rglob("*.py"))


def variables_read() -> dict[str, str]:
    found = {}
    for path in source_files():
        for match in READS.finditer(path.read_text()):
            name = match["env"] or match["environ"]
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def documented_rows() -> list[tuple[str, str]]:
    """(first cell, default cell) of every table row naming a variable."""
    return [
        (row["name"], row["default"])
        for row in ROW.finditer(CONFIGURATION.read_text())
        if row["name"].startswith("`")
    ]


def or_fallbacks(tree: ast.AST) -> dict[ast.Call, ast.expr]:
    """`os.environ.get("NAME", "").strip() or "value"`: the call, and the value its
    `or` falls back to, which is the default."""
    fallbacks = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            for call in ast.walk(node.values[0]):
                if isinstance(call, ast.Call):
                    fallbacks[call] = node.values[-1]
    return fallbacks


def static_defaults() -> dict[str, object]:
    """The defaults written in the source: env.<type>("NAME", default=…),
    env_int / env_float / env_bool("NAME", default) and os.environ.get("NAME", …), as values where
    they are literals, else as source."""
    found: dict[str, object] = {}
    for path in source_files():
        tree = ast.parse(path.read_text())
        fallbacks = or_fallbacks(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            if not (node.args and isinstance(node.args[0], ast.Constant)):
                continue
            name, default = node.args[0].value, None
            if isinstance(node.func, ast.Name) and node.func.id in READERS:
                keyword = next((k.value for k in node.keywords if k.arg == "default"), None)
                default = node.args[1] if len(node.args) > 1 else keyword
            elif not isinstance(node.func, ast.Attribute):
                continue
            elif (owner := ast.unparse(node.func.value)) == "env":
                keyword = next((k.value for k in node.keywords if k.arg == "default"), None)
                default = keyword
            elif owner == "os.environ" and node.func.attr == "get":
                default = node.args[1] if len(node.args) > 1 else ast.Constant(None)
                default = fallbacks.get(node, default)
            if not isinstance(name, str) or default is None:
                continue
            try:
                found.setdefault(name, ast.literal_eval(default))
            except ValueError:
                found.setdefault(name, ast.unparse(default))
    return found


@pytest.fixture(scope="module")
def code_defaults(tmp_path_factory) -> dict[str, object]:
    var = tmp_path_factory.mktemp("settings") / "var"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "botadmin.settings",
        "BOTADMIN_VAR_DIR": str(var),
        # Reach the settings read only when these are on; their defaults are unchanged.
        "BEHIND_HTTPS_PROXY": "1",
        "BOTADMIN_MEDIA_S3_BUCKET": "documented-defaults",
    }
    result = subprocess.run(
        [sys.executable, "-c", RECORD_DEFAULTS],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    recorded = json.loads(result.stdout.strip().splitlines()[-1])
    defaults = {**static_defaults(), **recorded}
    for folder in (str(var), str(ROOT / "var")):
        defaults = {
            name: value.replace(folder, "var") if isinstance(value, str) else value
            for name, value in defaults.items()
        }
    return defaults


def as_documented(value) -> str:
    """A code default as the table writes it."""
    if value in (None, "", [], ()):
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def documented_default(cell: str) -> str:
    """The default a row names: `empty`, `generated`, or its first `value`."""
    if cell.startswith(("empty", "generated")):
        return cell.split()[0]
    value = re.search(r"`([^`]*)`", cell)
    assert value, f"no `value` in the default cell {cell!r}"
    return value[1].removeprefix("./")


def test_the_scan_finds_the_settings_it_should():
    found = variables_read()
    for name in (
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "WEB_CONCURRENCY",
        "LOG_FORMAT",
        "DELIVERY_MAX_ATTEMPTS",  # botadmin.env_numbers' env_int
        "BOTADMIN_READY_TIMEOUT",  # and env_float
        "LOG_SQL",  # botadmin.env_booleans' env_bool
    ):
        assert name in found


def test_each_row_names_one_variable_and_each_variable_has_one_row():
    names = []
    for first_cell, _ in documented_rows():
        one = ONE_VARIABLE.match(first_cell)
        assert one, f"one variable per row, not {first_cell!r}"
        names.append(one["name"])
    repeated = {name for name in names if names.count(name) > 1}
    assert not repeated, f"documented in more than one row: {repeated}"


def test_every_variable_read_is_in_the_configuration_docs():
    documented = {first_cell.strip("`") for first_cell, _ in documented_rows()}
    undocumented = {
        name: where
        for name, where in variables_read().items()
        if name not in INTERNAL and name not in documented
    }
    assert not undocumented, f"add a row to docs/configuration.md for: {undocumented}"


def test_every_documented_variable_is_read_by_the_code():
    read = variables_read()
    unread = {cell.strip("`") for cell, _ in documented_rows()} - set(read)
    assert not unread, f"documented but read nowhere: {unread}"


def test_every_row_names_the_default_the_code_has(code_defaults):
    wrong = {}
    for first_cell, cell in documented_rows():
        name = first_cell.strip("`")
        assert name in code_defaults, f"cannot tell the default of {name} from the code"
        code, documented = code_defaults[name], documented_default(cell)
        if name in GENERATED:
            expected = "generated" if code in (None, "") else as_documented(code)
        elif name in FORMULAS:
            source, formula = FORMULAS[name]
            expected = formula if code == source else as_documented(code)
        else:
            expected = as_documented(code)
        if documented != expected:
            wrong[name] = f"documented {documented!r}, the code has {expected!r}"
    assert not wrong, wrong
