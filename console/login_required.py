"""Django's login_required for the console's views, with two differences.

* A form posted after the session ended (expired, or logged out in another tab)
  sends the operator to the login page, and from there back to the page the form
  was on, with a note that nothing was saved. Django's own decorator would come
  back to the URL the form posted to, which answers only POST: an empty 405.
* A request of htmx (the history's live updates, older pages, a message's
  details) gets a notice at the top of the page instead of the login page,
  which htmx would draw inside the timeline; its polling stops. What the
  operator was typing stays.
"""

from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

# htmx stops polling on this status, and still draws the answer.
HTMX_STOP_POLLING = 286


def login_required(view):
    @wraps(view)
    def logged_in_view(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.headers.get("HX-Request"):
            return _logged_out_notice(request)
        if request.method in ("GET", "HEAD"):
            return redirect_to_login(request.get_full_path())
        messages.warning(request, _("Your session had ended: nothing was saved. Log in again."))
        return redirect_to_login(_same_site_page(request, request.headers.get("Referer", "")))

    return logged_in_view


def _logged_out_notice(request):
    page = _same_site_page(request, request.headers.get("HX-Current-URL", ""))
    response = render(
        request,
        "console/_logged_out.html",
        {"login_url": redirect_to_login(page)["Location"]},
        status=HTMX_STOP_POLLING,
    )
    response["HX-Retarget"] = "main"
    response["HX-Reswap"] = "afterbegin"
    return response


def _same_site_page(request, url: str) -> str:
    """The path (and query) of `url` if it is a page of this site, else the console's home."""
    if url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        page = urlsplit(url)
        if page.path != resolve_url(settings.LOGIN_URL):
            return page.path + (f"?{page.query}" if page.query else "")
    return resolve_url(settings.LOGIN_REDIRECT_URL)
