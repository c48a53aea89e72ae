"""The documentation in the console (/console/docs/<name>/): docs/*.md drawn for a
logged-in user, in Chinese where translated (docs/zh-hans/), headings with GitHub's
anchors in either language, links between documents kept inside the console, raw HTML
shown as text."""

from pathlib import Path

import pytest
from django.urls import reverse

from console import docs_pages


@pytest.fixture
def logged_in(client, make_operator):
    client.force_login(make_operator("reader"))
    return client


def test_a_document_is_drawn_with_githubs_heading_anchors(logged_in):
    logged_in.post(reverse("set_language"), {"language": "en", "next": "/console/"})

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

    page = docs_pages.page("trap")

    assert page.title == "Trap"
    assert "<script>" not in page.html and "&lt;script&gt;" in page.html
    assert 'href="javascript:' not in page.html


@pytest.mark.parametrize("name", ["nothing-here", "..%2Fsettings", "README"])
def test_only_documents_under_docs_are_served(logged_in, name):
    assert logged_in.get(f"/console/docs/{name}/").status_code == 404


def test_a_visitor_must_log_in(client):
    response = client.get(reverse("console:docs", args=["bots"]))

    assert response.status_code == 302 and "/console/login/" in response["Location"]


def test_a_chinese_reader_gets_the_translation_with_the_english_anchors(logged_in):
    html = logged_in.get(reverse("console:docs", args=["bots"])).content.decode()

    assert (
        "<title>接入机器人" in html and '<article class="panel docs-page" lang="zh-hans">' in html
    )
    assert '<h3 id="in-wecoms-admin-console">在企业微信管理后台</h3>' in html
    assert '<h3 id="in-wecoms-admin-console-1">在企业微信管理后台</h3>' in html
    assert "{#" not in html and 'id="docs-untranslated"' not in html


def test_an_english_reader_gets_the_english_document(logged_in):
    logged_in.post(reverse("set_language"), {"language": "en", "next": "/console/"})

    html = logged_in.get(reverse("console:docs", args=["bots"])).content.decode()

    assert "<title>Connecting bots" in html and 'lang="en"' in html
    assert 'id="docs-untranslated"' not in html


def test_a_document_without_a_translation_is_english_with_a_note(logged_in):
    html = logged_in.get(reverse("console:docs", args=["performance"])).content.decode()

    assert 'id="docs-untranslated"' in html and "还没有中文版" in html
    assert '<article class="panel docs-page" lang="en">' in html


def test_a_translation_links_to_english_only_documents_inside_the_console(logged_in):
    html = logged_in.get(reverse("console:docs", args=["bots"])).content.decode()

    assert f'href="{reverse("console:docs", args=["api"])}#what-each-connector-sends' in html
    assert 'href="../' not in html


def test_a_heading_names_its_own_anchor(tmp_path, monkeypatch):
    (tmp_path / "x.md").write_text("# Doc\n\n## 标题 {#title}\n\n## `code` {#code-1}\n")
    (tmp_path / "zh-hans").mkdir()
    monkeypatch.setattr(docs_pages, "DOCS", Path(tmp_path))

    html = docs_pages.page("x", "en").html

    assert '<h2 id="title">标题</h2>' in html
    assert '<h2 id="code-1"><code>code</code></h2>' in html


def test_a_line_break_between_chinese_characters_draws_no_space(tmp_path, monkeypatch):
    (tmp_path / "x.md").write_text("# 文档\n\n第一行\n第二行，被\n**暂停**。\nEnglish\nwords\n")
    monkeypatch.setattr(docs_pages, "DOCS", Path(tmp_path))

    html = docs_pages.page("x", "en").html

    assert "<p>第一行第二行，被<strong>暂停</strong>。\nEnglish\nwords</p>" in html


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_links_to_the_readme_and_contributing_land_on_their_sections_in_the_console(
    logged_in, language
):
    """docs/configuration.md links ../README.md, its translation ../../README.md: both
    resolve from the document's folder, as on GitHub, to pages the console serves."""
    logged_in.post(reverse("set_language"), {"language": language, "next": "/console/"})

    html = logged_in.get(reverse("console:docs", args=["configuration"])).content.decode()

    readme = reverse("console:docs", args=["readme"])
    contributing = reverse("console:docs", args=["contributing"])
    assert f'href="{readme}#the-two-commands"' in html
    assert f'href="{contributing}#tests-and-ci"' in html
    assert 'href="../' not in html
    readme_page = logged_in.get(readme)
    assert readme_page.status_code == 200
    assert '<h2 id="the-two-commands">' in readme_page.content.decode()
    assert '<h2 id="tests-and-ci">' in logged_in.get(contributing).content.decode()


def test_the_readmes_links_to_the_documents_stay_in_the_console(logged_in):
    html = logged_in.get(reverse("console:docs", args=["readme"])).content.decode()

    assert (
        f'href="{reverse("console:docs", args=["api"])}#using-botadmin-as-a-wecom-robot-url"'
        in html
    )
    assert f'href="{reverse("console:docs", args=["contributing"])}#adding-a-dependency"' in html
    # README's link to the folder of translations: its own list of the documents.
    assert f'href="{reverse("console:docs", args=["readme"])}#documentation"' in html
    assert 'href="docs/' not in html and 'href="CONTRIBUTING.md' not in html
    # README has no translation: a Chinese reader is told so.
    assert 'id="docs-untranslated"' in html and 'lang="en"' in html


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_tables_empty_corner_is_a_plain_cell_not_an_empty_header(logged_in, language):
    logged_in.cookies["django_language"] = language

    html = logged_in.get(reverse("console:docs", args=["api"])).content.decode()

    assert "<th></th>" not in html
    limits = html.split('id="limits-utf-8-bytes"')[1].split("</thead>")[0]
    assert limits.split("<tr>")[1].split()[0] == "<td></td>"
    assert limits.count("<th>") == 2


def test_an_aligned_column_is_aligned_by_a_class_the_content_security_policy_allows(
    tmp_path, monkeypatch
):
    (tmp_path / "x.md").write_text("# Doc\n\n| run | ratio |\n|:---|---:|\n| a | 0.5 |\n")
    monkeypatch.setattr(docs_pages, "DOCS", Path(tmp_path))

    html = docs_pages.page("x", "en").html

    assert "style=" not in html
    assert '<th class="md-align-right">ratio</th>' in html
    assert '<td class="md-align-right">0.5</td>' in html


def test_the_performance_document_carries_no_inline_style(logged_in):
    html = logged_in.get(reverse("console:docs", args=["performance"])).content.decode()

    assert "md-align-right" in html and 'style="' not in html
