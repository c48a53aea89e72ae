from django.db import migrations


def create_primary_endpoints(apps, schema_editor):
    """Bots that already had a webhook URL forward to it from now on."""
    Bot = apps.get_model("conversations", "Bot")
    WebhookEndpoint = apps.get_model("messaging", "WebhookEndpoint")
    for bot in Bot.objects.exclude(webhook_url=""):
        WebhookEndpoint.objects.get_or_create(
            bot=bot, is_primary=True, defaults={"url": bot.webhook_url}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0001_initial"),
        ("messaging", "0004_inbound_media_and_webhooks"),
    ]

    operations = [migrations.RunPython(create_primary_endpoints, migrations.RunPython.noop)]
