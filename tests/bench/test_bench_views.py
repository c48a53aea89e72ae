"""The benchmarks' baseline views are no part of the product."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# Our apps: the installed ones that live in this repository.
PRODUCT = [app for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()]


def test_without_the_setting_there_are_no_bench_views(client, db):
    assert (
        client.post("/bench/send/parse", b"{}", content_type="application/json").status_code == 404
    )
    assert client.get("/bench/lists/json").status_code == 404


def test_with_the_setting_botadmin_serves_them_under_bench():
    code = "from django.urls import resolve; print(resolve('/bench/send/parse').func.__module__)"
    resolved = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, "BOTADMIN_BENCH_VIEWS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert resolved.stdout.split()[-1] == "benchviews.send"


@pytest.mark.urls("benchviews.urls")
def test_the_baselines_answer(client, db):
    parsed = client.post("/send/parse", b'{"msgtype": "text"}', content_type="application/json")
    assert parsed.json() == {"errcode": 0, "errmsg": "ok", "msgtype": "text"}
    assert client.get("/lists/json").json() == {"errcode": 0, "errmsg": "ok"}
    assert len(client.get("/lists/static?n=3").json()["data"]) == 3


def _imports(folder: Path, names: str) -> list[str]:
    pattern = re.compile(rf"^\s*(from|import)\s+({names})\b", re.MULTILINE)
    return [
        str(path.relative_to(ROOT))
        for path in folder.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]


@pytest.mark.parametrize("app", PRODUCT)
def test_no_product_app_has_or_imports_bench_or_test_helpers(app):
    assert list((ROOT / app).rglob("bench.py")) == []
    assert _imports(ROOT / app, "benchviews|devtools|tests|bench") == []


def test_the_benchmarks_do_not_import_the_tests():
    assert _imports(ROOT / "bench", "tests") == []
