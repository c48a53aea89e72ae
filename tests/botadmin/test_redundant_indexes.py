"""No index is a strict prefix of another one on the same table (PostgreSQL's catalogue
after every migration): every insert updates each index, and a lookup the shorter one
serves the longer one serves too (docs/database.md). A unique or partial index is not
redundant that way (it constrains, or holds other rows), nor is one a partial index
would be the only cover of."""

import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="read from PostgreSQL's catalogue"
)

# Kept on purpose: small tables, and the ones Django makes for a many-to-many field.
KEPT = {
    "conversations_bot_operators_bot_id_7254c72f",  # many-to-many
    "messaging_announcement_conversations_announcement_id_69c7bec2",  # many-to-many
    "messaging_savedaudience_conversations_savedaudience_id_63f9ea8e",  # many-to-many
    "messaging_savedaudience_bot_id_0eb15475",  # a few rows a bot
    "messaging_announcementrun_announcement_id_aece0b7b",  # a few rows an announcement
}

COVERED = """
SELECT ca.relname, cb.relname
FROM pg_index a
JOIN pg_index b ON a.indrelid = b.indrelid AND a.indexrelid <> b.indexrelid
JOIN pg_class ca ON ca.oid = a.indexrelid
JOIN pg_class cb ON cb.oid = b.indexrelid
JOIN pg_am ama ON ama.oid = ca.relam
JOIN pg_am amb ON amb.oid = cb.relam
JOIN pg_class t ON t.oid = a.indrelid
WHERE ama.amname = 'btree' AND amb.amname = 'btree'
  AND t.relname ~ '^(messaging|audit|conversations|announcements|forwarding)_'
  AND NOT a.indisunique AND a.indpred IS NULL AND b.indpred IS NULL
  AND a.indexprs IS NULL AND b.indexprs IS NULL
  AND a.indnkeyatts < b.indnkeyatts
  AND (a.indkey::int2[])[0:a.indnkeyatts - 1] = (b.indkey::int2[])[0:a.indnkeyatts - 1]
  AND (a.indoption::int2[])[0:a.indnkeyatts - 1] = (b.indoption::int2[])[0:a.indnkeyatts - 1]
ORDER BY 1, 2
"""


@pytest.mark.django_db
def test_no_index_is_a_prefix_of_another():
    with connection.cursor() as cursor:
        cursor.execute(COVERED)
        covered = [(short, long) for short, long in cursor.fetchall() if short not in KEPT]
    assert covered == []
