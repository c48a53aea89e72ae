"""Where a form sends the operator back to: the page they posted it from."""

from django.utils.http import url_has_allowed_host_and_scheme


def posted_next_page(request, fallback: str) -> str:
    """The form's `next` when it is a page of this site written as a path (with its query),
    else `fallback`. Anything else (another host, a scheme, `//host`) is ignored: a link
    from elsewhere must not turn a console button into a redirect off the site."""
    page = request.POST.get("next", "")
    if page.startswith("/") and url_has_allowed_host_and_scheme(
        page, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return page
    return fallback
