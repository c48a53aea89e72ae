"""The documentation in the console (/console/docs/<name>/): docs/*.md drawn for a
logged-in user, headings with GitHub's anchors, links between documents kept inside the
console, raw HTML shown as text."""

from pathlib import Path

import pytest
from django.urls import reverse

from console import docs_pages


@pytest.fixture
def logged_in(client, make_operator):
    client.force_login(make_operator("reader"))
    return client


def test_a_document_is_drawn_with_githubs_heading_anchors(logged_in):
    html = logged_in.get(reverse("console:docs", args=["bots"])).content.decode()

    assert "<title>Connecting bots" in html
    assert '<h2 id="wecom-self-built-app-自建应用">' in html
    # A repeated heading gets -1, as on GitHub (tests/test_docs_links.py checks the links).
    assert 'id="in-wecoms-admin-console"' in html and 'id="in-wecoms-admin-console-1"' in html


def test_links_between_documents_stay_in_the_console(logged_in):
    html = logged_in.get(reverse("console:docs", args=["bots"])).content.decode()

    assert f'href="{reverse("console:docs", args=["api"])}#what-each-connector-sends' in html
    assert 'href="api.md' not in html


def test_raw_html_in_a_document_is_shown_as_text(tmp_path, monkeypatch):
    (tmp_path / "trap.md").write_text(
        "# Trap\n\n<script>alert(1)</script> [x](javascript:alert(1))\n"
    )
    monkeypatch.setattr(docs_pages, "DOCS", Path(tmp_path))

    title, html = docs_pages.page("trap")

    assert title == "Trap"
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html


@pytest.mark.parametrize("name", ["nothing-here", "..%2Fsettings", "README"])
def test_only_documents_under_docs_are_served(logged_in, name):
    assert logged_in.get(f"/console/docs/{name}/").status_code == 404


def test_a_visitor_must_log_in(client):
    response = client.get(reverse("console:docs", args=["bots"]))

    assert response.status_code == 302 and "/console/login/" in response["Location"]
