"""Whatever an operator's browser puts in a page's query string: never a 500.

NUL is the usual culprit (PostgreSQL refuses it in a query parameter), then
numbers and dates out of range and undecodable text."""

import pytest

from forwarding.models import WebhookEndpoint

URLS = [
    "/console/search/?q=%00",
    "/console/search/?q=x&sender=%00&conversation=%00",
    "/console/audit/?q=%00&sender=%00",
    "/console/audit/export.csv?q=%00",
    "/console/audit/actions/?q=%00",
    "/console/audit/actions/export.csv?bot=%00&action=%00",
    "/console/audit/actions/export.csv?bot=99999999999999999999&action=bot.update",
    "/console/audit/actions/?before=%00&after=99999999999999999999",
    "/console/audit/actions/?after=%C2%B2&before=-99999999999999999999",
    "/console/bots/{b}/?q=%00",
    "/console/bots/{b}/settings/?q=%00",
    "/console/bots/{b}/secrets/rotate?removed=%00&which=%00",
    "/console/bots/{b}/secrets/rotate?removed=99999999999999999999",
    "/console/bots/new/?connector=%00",
    "/console/bots/99999999999999999999/settings/",
    "/console/bots/{b}/?kind=%00",
    "/console/bots/{b}/?tab=%00&q=%E6%9D%8E",
    "/console/bots/{b}/conversations/{c}/?date=%00",
    "/console/bots/{b}/conversations/{c}/?before=%00",
    "/console/bots/{b}/conversations/{c}/updates?after=1&pending=%00,1",
    "/console/bots/{b}/conversations/{c}/?before=99999999999999999999",
    "/console/bots/{b}/conversations/{c}/?after=-99999999999999999999",
    "/console/bots/{b}/conversations/{c}/?at=99999999999999999999",
    "/console/bots/{b}/conversations/{c}/updates?after=99999999999999999999&pending=99999999999999999999",
    "/console/bots/{b}/conversations/{c}/updates?after=%C2%B2&pending=%C2%B2,1",
    "/console/bots/{b}/conversations/{c}/messages/99999999999999999999/trace",
    "/console/search/?before=99999999999999999999",
    "/console/bots/{b}/?page=99999999999999999999",
    "/console/dashboard/?bot=%00",
    "/console/announcements/?q=%00&status=%00&page=%00",
    "/console/announcements/?bot=%00&q=x",
    "/console/announcements/?bot=abc&status=draft",
    "/console/announcements/?bot=99999999999999999999&page=2",
    "/console/announcements/?bot=%C2%B2",
    "/console/announcements/schedule-preview/?rrule=%00&start=%00&timezone=%00",
    "/console/announcements/schedule-preview/?kind=recurring&rrule=FREQ%3DSECONDLY&start=0001-01-01T00:00",
    "/console/announcements/new/?conversation=%00&bot=%00",
    "/console/announcements/new/?bot=abc",
    "/console/announcements/new/?from=%00",
    "/console/announcements/new/?from=abc",
    "/console/announcements/new/?from=99999999999999999999999",
    "/console/announcements/new/?from=-1&bot=%00",
    "/console/announcements/new/?bot=%C2%B2",
    "/console/announcements/new/?bot=99999999999999999999999",
    "/admin/conversations/conversation/?q=%00",
    "/admin/messaging/message/?q=%00",
    "/admin/conversations/bot/?q=%00",
    "/console/search/?q=%ED%A0%80",
    "/console/search/?date_from=99999-01-01",
    "/console/search/?before=999999999999999999999999",
    "/console/audit/?before=-1",
    "/console/bots/99999999999999999999/conversations/{c}/",
    "/console/bots/{b}/conversations/99999999999999999999/updates?after=1",
    "/console/bots/{b}/conversations/{c}/messages/99999999999999999999/media/99999999999999999999",
    "/console/bots/{b}/conversations/{c}/messages/1/media/99999999999999999999/thumbnail",
    "/files/%00",
    "/files/99999999999999999999:xyz:abc",
    "/files/%ED%A0%80",
    "/console/bots/{b}/conversations/{c}/?date=0001-01-01",
    "/console/search/?q=x&date_from=0001-01-01",
    "/console/search/?q=x&date_to=9999-12-31",
    "/console/audit/?date_from=0001-01-01&date_to=9999-12-31",
    "/console/audit/export.csv?date_from=0001-01-01&date_to=9999-12-31",
    "/console/audit/?status=undelivered&since=%00",
    "/console/audit/?since=0001-01-01T00:00:00%2B08:00",
    "/console/audit/?since=9999-12-31T23:59:59-08:00",
    "/console/audit/export.csv?since=0001-01-01T00:00:00",
    "/console/audit/?since=99999-01-01T00:00:00Z&before=-1",
    "/console/bots/{b}/webhooks/{e}/?before=%00&after=%00",
    "/console/bots/{b}/webhooks/{e}/?before=99999999999999999999",
    "/console/bots/{b}/webhooks/{e}/?after=-99999999999999999999&status=%00",
    "/console/bots/{b}/webhooks/{e}/?after=%C2%B2&before=1",
    "/console/bots/{b}/webhooks/{e}/recover?since=%00",
    "/console/bots/{b}/webhooks/{e}/recover?since=0001-01-01T00:00:00%2B08:00",
    "/console/bots/{b}/webhooks/{e}/recover?since=9999-12-31T23:59:59-08:00",
    "/console/bots/{b}/webhooks/{e}/recover?since=99999-01-01T00:00",
]


@pytest.mark.parametrize("url", URLS)
def test_a_bad_query_string_never_breaks_a_page(client, superuser, bot, group, url):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example.com/in")
    client.force_login(superuser)
    response = client.get(url.format(b=bot.pk, c=group.pk, e=endpoint.pk))
    if response.streaming:
        b"".join(response.streaming_content)
    assert response.status_code < 500


def test_a_conversation_search_longer_than_any_name_finds_nothing(operator_client, bot, group):
    """SQLite refused its LIKE pattern past 50,000 bytes: a 500."""
    page = operator_client.get(f"/console/bots/{bot.pk}/?q=" + "销" * 30_000)
    assert page.status_code == 200 and group.name not in page.content.decode()


def test_a_nul_in_the_conversation_search_is_ignored(operator_client, bot, group):
    page = operator_client.get(f"/console/bots/{bot.pk}/?q=销%00售")
    assert page.status_code == 200 and group.name in page.content.decode()
