"""The console's numbered pages (the conversation list, the announcement list)."""

from django.core.paginator import Page, Paginator


def numbered_page(objects, per_page: int, number: str | None) -> Page:
    """The page `?page=` asks for. Below the first (0, -1) or unreadable, the first page;
    beyond the last, the last. Django's `get_page` opens the last page for 0 and -1, where
    an operator who typed them expects the first."""
    try:
        below_first = int(number) < 1
    except (TypeError, ValueError):
        below_first = True
    return Paginator(objects, per_page).get_page(1 if below_first else number)
