"""Finding contacts by part of their name (`contacts_named`), as a search by sender does,
on PostgreSQL through the index of the names' characters."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.contact_names import contacts_named
from conversations.models import Conversation
from tests.query_plans import rows_read

CONTACTS = 5_000


pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="query plans of PostgreSQL"
)


@pytest.fixture
def many_contacts(bot, make_conversation):
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wmUser{n}", kind="user", name=f"用户{n}")
        for n in range(CONTACTS)
    )
    make_conversation(bot, "wmSima", kind="user", name="司马懿")
    make_conversation(bot, "wmAbel", kind="user", name="ABEL")
    make_conversation(bot, "wrSima", name="司马懿的群")  # a group: no contact
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_conversation")


@pytest.mark.parametrize(
    "part, found",
    [
        ("懿", ["wmSima"]),
        ("司马", ["wmSima"]),
        ("司马懿", ["wmSima"]),
        ("aB", ["wmAbel"]),
        ("龘", []),
    ],
)
def test_a_name_part_reads_the_contacts_holding_its_characters_not_every_contact(
    bot, many_contacts, part, found
):
    """On every search by sender: the bots' every contact was read (383 buffers at 20,000
    contacts, note 29), now those whose name holds the part's characters
    (conv_contact_chars_idx, note 31): the same contacts, in any case, groups left out."""
    with CaptureQueriesContext(connection) as queries:
        named = contacts_named([bot.pk], part)

    assert named == ({bot.pk: found} if found else {})
    [sql] = [q["sql"] for q in queries]
    assert rows_read(sql, "conversations_conversation") < 10
