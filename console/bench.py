"""Floor views bench/history.py measures the console pages against.

Mounted under /bench/console/ only when BOTADMIN_BENCH_VIEWS is on (off by
default, never in production), like the other benchmarks' baselines. They
show what any logged-in page costs before it does its own work, so the
history page's ratio to its bare query can be read.

* `empty`: login required, an empty answer: session and user lookups, middleware.
* `empty_page`: login required, the console's base template with no content:
  the above plus the navigation, language switcher and CSRF token every page renders.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path


@login_required
def empty(request):
    return HttpResponse(b"")


@login_required
def empty_page(request):
    return render(request, "base.html")


urlpatterns = [
    path("empty", empty, name="bench_console_empty"),
    path("page", empty_page, name="bench_console_page"),
]
