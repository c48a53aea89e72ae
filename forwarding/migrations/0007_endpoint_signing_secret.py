"""Each webhook endpoint gets its own signing secret (security review M2: with one per bot,
any of a bot's receivers could sign deliveries for the others).

An existing endpoint starts with its bot's current signing secret, and its previous one
while that one's grace lasts, so its receiver keeps verifying after the upgrade; a bot
admin then rotates each endpoint's secret on its page (README, "Backups and upgrades").
The fields and the copy are one migration, so no endpoint is ever seen with the one value
AddField gives every existing row. Reversed, each bot takes its primary endpoint's secret
(else its first endpoint's): the receiver of the bot's webhook URL keeps verifying.
"""

import conversations.secrets
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

BATCH = 500  # rows a statement


def _batches(queryset):
    """The queryset's rows BATCH at a time, by primary key (a keyset: no OFFSET)."""
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


SECRET_FIELDS = [
    "signing_secret",
    "previous_signing_secret",
    "previous_signing_secret_expires_at",
]


def bot_secret_to_endpoints(apps, schema_editor):
    db = schema_editor.connection.alias
    Bot = apps.get_model("conversations", "Bot")
    WebhookEndpoint = apps.get_model("forwarding", "WebhookEndpoint")
    bot = Bot.objects.using(db).filter(pk=OuterRef("bot_id"))
    copied = {name: Subquery(bot.values(name)[:1]) for name in SECRET_FIELDS}
    for rows in _batches(WebhookEndpoint.objects.using(db).only("pk")):
        WebhookEndpoint.objects.using(db).filter(pk__in=[row.pk for row in rows]).update(**copied)


def primary_endpoint_secret_to_bot(apps, schema_editor):
    db = schema_editor.connection.alias
    Bot = apps.get_model("conversations", "Bot")
    WebhookEndpoint = apps.get_model("forwarding", "WebhookEndpoint")
    for bots in _batches(Bot.objects.using(db).only("pk", *SECRET_FIELDS)):
        chosen = {}
        endpoints = WebhookEndpoint.objects.using(db).filter(bot_id__in=[b.pk for b in bots])
        for endpoint in endpoints.order_by("bot_id", "-is_primary", "pk").only(
            "bot_id", "is_primary", *SECRET_FIELDS
        ):
            chosen.setdefault(endpoint.bot_id, endpoint)
        changed = [bot for bot in bots if bot.pk in chosen]
        for bot in changed:
            for name in SECRET_FIELDS:
                setattr(bot, name, getattr(chosen[bot.pk], name))
        Bot.objects.using(db).bulk_update(changed, SECRET_FIELDS)


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0022_rate_limit_help_text'),
        ('forwarding', '0006_delivery_page_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='webhookendpoint',
            name='previous_signing_secret',
            field=models.CharField(blank=True, default='', max_length=100, verbose_name='previous signing secret'),
        ),
        migrations.AddField(
            model_name='webhookendpoint',
            name='previous_signing_secret_expires_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='previous signing secret valid until'),
        ),
        migrations.AddField(
            model_name='webhookendpoint',
            name='signing_secret',
            field=models.CharField(default=conversations.secrets.generate_signing_secret, max_length=100, verbose_name='signing secret'),
        ),
        migrations.RunPython(bot_secret_to_endpoints, primary_endpoint_secret_to_bot),
    ]
