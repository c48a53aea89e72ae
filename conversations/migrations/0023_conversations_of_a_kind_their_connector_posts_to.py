"""Conversations entered by hand before the forms offered only the kinds a bot's connector
posts to: a group robot's "user" is the group chat the robot was added to (it has no
one-to-one chats), so it becomes a group, listed under 群聊 and in "All groups"."""

from django.db import migrations


def to_a_kind_the_connector_posts_to(apps, schema_editor):
    from connectors.registry import CONNECTORS

    Conversation = apps.get_model("conversations", "Conversation")
    for kind, connector in CONNECTORS.items():
        allowed = connector.conversation_kinds
        Conversation.objects.filter(bot__connector=kind).exclude(kind__in=allowed).update(
            kind=allowed[0]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0022_rate_limit_help_text"),
    ]

    operations = [
        migrations.RunPython(to_a_kind_the_connector_posts_to, migrations.RunPython.noop),
    ]
