"""A page of the documentation in the console (console/docs_pages.py)."""

from __future__ import annotations

from django.shortcuts import render
from django.utils.safestring import mark_safe

from .. import docs_pages
from ..login_required import login_required


@login_required
def doc_page(request, name: str):
    page = docs_pages.page(name)
    # markdown-it escapes raw HTML in the documents (html=False) and refuses unsafe links.
    return render(
        request,
        "console/docs/page.html",
        {"title": page.title, "html": mark_safe(page.html), "page": page},
    )
