"""Django's login_required for the console's views, with one difference for forms.

A form posted after the session ended (expired, or logged out in another tab)
sends the operator to the login page, and from there back to the page the form
was on, with a note that nothing was saved. Django's own decorator would come
back to the URL the form posted to, which answers only POST: an empty 405.
"""

from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _


def login_required(view):
    @wraps(view)
    def logged_in_view(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.method in ("GET", "HEAD"):
            return redirect_to_login(request.get_full_path())
        messages.warning(request, _("Your session had ended: nothing was saved. Log in again."))
        return redirect_to_login(_page_of_the_form(request))

    return logged_in_view


def _page_of_the_form(request) -> str:
    """The console page the request was posted from, else the console's home."""
    referer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        page = urlsplit(referer)
        if page.path != resolve_url(settings.LOGIN_URL):
            return page.path + (f"?{page.query}" if page.query else "")
    return resolve_url(settings.LOGIN_REDIRECT_URL)
