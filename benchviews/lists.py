"""Baseline views bench/lists.py measures `/api/groups` against.

Mounted under /bench/lists/ (see benchviews/__init__.py).

* `/bench/lists/json`: a small JSON envelope, no database: the cost of the
  server and Django alone per request.
* `/bench/lists/static?n=N`: a prebuilt answer shaped like `/api/groups` with
  N groups, no database: the cost of shipping that many bytes.
"""

import json
from functools import lru_cache

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET

from botadmin.api import envelope


@require_GET
def small_json(request):
    return envelope(0, "ok")


@lru_cache(maxsize=4)
def _static_groups(n: int) -> bytes:
    data = [
        {
            "name": f"bench group {i:06d}",
            "conversation_id": f"wrBench{i:08d}",
            "avatar": "",
            "member_count": i % 500,
            "is_active": True,
        }
        for i in range(n)
    ]
    return json.dumps(
        {"errcode": 0, "errmsg": "ok", "data": data}, ensure_ascii=False, separators=(",", ":")
    ).encode()


@require_GET
def static_groups(request):
    n = min(int(request.GET.get("n", "50000")), 200_000)
    return HttpResponse(_static_groups(n), content_type="application/json")


urlpatterns = [
    path("json", small_json),
    path("static", static_groups),
]
