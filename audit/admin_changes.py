"""Changes made through the Django admin, in our audit log as well.

Django's admin writes its own LogEntry for every add, change and delete, the
bulk "delete selected" included (`log_deletions`, before the rows go), and
nothing else reads those. A ModelAdmin with `AuditedAdminMixin` also records
an OperatorAction for each, so the console's audit page shows who added,
changed or deleted which bot, conversation, endpoint or user in the admin. A
delete and its entries commit together: Django's delete view runs in a
transaction, and the mixin runs "delete selected" in one.
The admin's other actions call the services (`rotate_secret`,
`delivery_actions`, `replay_deliveries`, …), which record themselves; an action
that changes many rows runs under `atomic_action`, so that all of them and their
entries commit together, or none, and what they publish (on commit) waits for it.
"""

from functools import wraps

from django.db import router, transaction

from audit.services import record_action


def atomic_action(action):
    """An admin action run in one transaction (on the model's database): every row it
    changes and every audit entry it writes, or none of them; the tasks it publishes
    (`delay_on_commit`) leave after the commit. Not for an action that calls another
    system (a connection test): what happened there cannot be rolled back.

        @admin.action(description=…)
        @atomic_action
        def cancel(self, request, queryset): ...
    """

    @wraps(action)
    def run(modeladmin, request, queryset):
        with transaction.atomic(using=router.db_for_write(modeladmin.model)):
            return action(modeladmin, request, queryset)

    return run


# Where the names of the changed fields wait between construct_change_message,
# the only admin hook that sees the form, and log_addition / log_change, which
# Django calls right after it for the same object.
_CHANGED = "_audited_changed_fields"


class AuditedAdminMixin:
    """Records the admin's add, change and delete of a row as operator actions.

    `audit_codes` names the action for each: {"add": "bot.create", "change":
    "bot.update", "delete": "bot.delete"}. The row's bot is found along
    BotScopedAdminMixin's `bot_lookup` when the admin has one.
    """

    audit_codes: dict[str, str] = {}

    def audited_changes(self, form) -> list[str]:
        """The names of the fields a form changed (never their values)."""
        return list(form.changed_data)

    def audited_bot(self, obj):
        lookup = getattr(self, "bot_lookup", None)
        if lookup is None:
            return None
        for name in lookup.split("__") if lookup else ():
            obj = getattr(obj, name, None)
        return obj

    def construct_change_message(self, request, form, formsets, add=False):
        setattr(request, _CHANGED, self.audited_changes(form))
        return super().construct_change_message(request, form, formsets, add)

    def log_addition(self, request, obj, message):
        self._record(request, "add", obj, request.__dict__.pop(_CHANGED, []))
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._record(request, "change", obj, request.__dict__.pop(_CHANGED, []))
        return super().log_change(request, obj, message)

    def get_actions(self, request):
        # "Delete selected" writes our entries (log_deletions), then deletes: Django runs
        # the two outside a transaction (its delete view runs in one), so a delete
        # that failed would leave entries of deletions that never happened.
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            function, name, description = actions["delete_selected"]
            actions["delete_selected"] = (atomic_action(function), name, description)
        return actions

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._record(request, "delete", obj, [])
        return super().log_deletions(request, queryset)

    def _record(self, request, verb: str, obj, changed: list[str]) -> None:
        record_action(
            request.user,
            self.audit_codes[verb],
            bot=self.audited_bot(obj),
            target=obj,
            summary=", ".join(changed),
            details={"changed": changed, "via": "admin"} if changed else {"via": "admin"},
        )
