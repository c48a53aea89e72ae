from pathlib import Path

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import cache_control, never_cache

from . import health


@never_cache
def healthz(request):
    """Liveness: the process answers. Depends on nothing, so a restart never cures
    a database outage by killing healthy web processes."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """Readiness of the installation, for monitoring: 200 when every component works, else
    503 naming the failing ones."""
    return _readiness(health.run_checks())


@never_cache
def readyz_web(request):
    """Readiness of this web process, for a load balancer: 200 when it can serve the API
    and the console (its database answers), whatever Celery's processes do."""
    return _readiness(health.run_checks(health.WEB_CHECKS))


def _readiness(results: dict[str, health.Result]) -> JsonResponse:
    failing = [name for name, result in results.items() if result.status == "fail"]
    answer = {
        "status": "fail" if failing else "ok",
        "failing": failing,
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    return JsonResponse(answer, status=503 if failing else 200)


FAVICON = Path(__file__).resolve().parent.parent / "static" / "botadmin" / "favicon.svg"


@cache_control(max_age=86400, public=True)
def favicon(request):
    """/favicon.ico, which browsers ask for on every page whatever the page says."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/svg+xml")
