import re
import uuid

from django.conf import settings
from django.http import HttpResponseNotAllowed
from django.shortcuts import render
from django.utils import translation
from django.utils.deprecation import MiddlewareMixin

from .client_address import forwarded_proto


class ChosenLanguageMiddleware(MiddlewareMixin):
    """Simplified Chinese unless the user chose another language.

    Django's LocaleMiddleware follows the browser's Accept-Language; botadmin's
    UI speaks Chinese by default and switches only on the user's choice (the
    language cookie set by the language switcher, /i18n/setlang/).
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        supported = {code for code, _name in settings.LANGUAGES}
        language = chosen if chosen in supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        response.headers.setdefault("Content-Language", translation.get_language())
        return response


_REQUEST_ID = re.compile(r"[\w.:-]{1,64}")


class RequestIdMiddleware:
    """Each request gets an id: the proxy's `X-Request-ID` when it is a plain token,
    else a new one. Every log line of the request carries it, and so does the answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from . import logging as botadmin_logging

        given = request.headers.get("X-Request-ID", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        botadmin_logging.clear_context(request_id=request_id)
        response = self.get_response(request)
        response.headers.setdefault("X-Request-ID", request_id)
        return response


class ContentSecurityPolicyMiddleware:
    """Pages get settings.CONTENT_SECURITY_POLICY, unless their view wrote a policy of its
    own (the archived files' sandbox, messaging/media_links.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and response.get("Content-Type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", policy)
        return response


class ForwardedProtoMiddleware:
    """The proxy's word that a request came over HTTPS (SECURE_PROXY_SSL_HEADER, set by
    BEHIND_HTTPS_PROXY) counts only from BOTADMIN_TRUSTED_PROXIES, and is the value the
    nearest one wrote (`client_address.forwarded_proto`): the header is left holding that
    one before anything reads it, and dropped for any other peer. A client reaching the
    web server directly over plain HTTP, or sending its own `https` ahead of the proxy's
    `http`, then is not secure: it is redirected to HTTPS, and the CSRF check expects an
    http:// origin from it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = settings.SECURE_PROXY_SSL_HEADER
        if header:
            proto = forwarded_proto(request.META, header[0])
            if proto is None:
                request.META.pop(header[0], None)
            else:
                request.META[header[0]] = proto
        return self.get_response(request)


class ProbesMiddleware:
    """`/healthz`, `/readyz`, `/readyz/web` and `/metrics` answer whatever the Host header says.

    Load balancers and Prometheus ask the web server at its own address
    (`Host: 10.0.0.5:8124`), which is rarely in ALLOWED_HOSTS: CommonMiddleware's host
    check would answer them 400. These answers build no URL from the Host, so they are
    served here, before that check (`/metrics` still wants its token); every other path
    is still checked.
    """

    def __init__(self, get_response):
        from .metrics import metrics_view
        from .views import healthz, readyz, readyz_web

        self.get_response = get_response
        self.probes = {
            "/healthz": healthz,
            "/readyz": readyz,
            "/readyz/web": readyz_web,
            "/metrics": metrics_view,
        }

    def __call__(self, request):
        probe = self.probes.get(request.path_info)
        if probe is None:
            return self.get_response(request)
        return probe(request)


class MethodNotAllowedPageMiddleware:
    """A wrong method outside the API (a GET of a form's target: a bookmark, a reload, a
    pasted link) answers the console's own 405 page, translated, with a way back and the
    view's Allow header, instead of Django's empty HttpResponseNotAllowed. One place for
    every POST-only view (`require_POST`, `require_http_methods`, a class-based view's
    `http_method_names`), the admin's included.

    Last in MIDDLEWARE, so the page has the user and the language. /api/ and /cgi-bin/
    keep their JSON envelope (botadmin.api.JsonApiAnswersMiddleware writes it).
    """

    def __init__(self, get_response):
        from .api import answers_envelope

        self.get_response = get_response
        self.answers_envelope = answers_envelope

    def __call__(self, request):
        response = self.get_response(request)
        if not isinstance(response, HttpResponseNotAllowed) or self.answers_envelope(
            request.path_info
        ):
            return response
        allowed = [method.strip() for method in response["Allow"].split(",") if method.strip()]
        page = render(
            request,
            "405.html",
            {
                "form_target": "POST" in allowed and request.method in ("GET", "HEAD"),
                "in_admin": getattr(request.resolver_match, "app_name", "") == "admin",
            },
            status=405,
        )
        page["Allow"] = response["Allow"]
        page.cookies = response.cookies
        return page
