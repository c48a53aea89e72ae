"""The admin's change forms that are checked against the row they are saved over."""

from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.admin.utils import flatten_fieldsets, unquote

from botadmin.forms import look_up_urls, url_checks_remembered

# Set on a request whose change form reads its row under the row's lock.
_READ_LOCKED = "_change_form_read_locked"


class ChecksTheRowItSavesOver:
    """A posted change form reads its row under the row's lock, held till the view's
    transaction ends (Django runs a posted change form in one): the form is checked
    against the row it is saved over, as the console checks a bot's connector settings
    (conversations.bot_changes.change_connector_settings), and nothing committed between
    the check and the save goes unchecked or is undone by it.

    Its slow checks, the URLs' host lookups, are made before, as the row is read unlocked
    (`_look_up_urls`): a slow name server does not hold the bot's other writers (a worker
    pausing it) for as long. The form is checked once, under the lock, with the lookups'
    outcomes (botadmin.forms.url_checks_remembered); its other checks (a unique name, a
    webhook URL no other endpoint has, the connector's settings) are made there only."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        posted = request.method == "POST"
        locked = posted and object_id is not None and "_saveasnew" not in request.POST
        with url_checks_remembered():
            if locked:
                self._look_up_urls(request, object_id)
            setattr(request, _READ_LOCKED, locked)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None or not getattr(request, _READ_LOCKED, False):
            return obj
        return self.lock_row(obj.pk)  # read again, locked

    def lock_row(self, pk):
        """The row as stored now, locked till the transaction ends (an admin whose rows are
        locked after another's gives its own: forwarding/locks.py)."""
        return self.model.objects.select_for_update().get(pk=pk)

    def _look_up_urls(self, request, object_id) -> None:
        """The posted form's URLs checked (their hosts looked up) over the row as read now,
        unlocked; whether they are refused is told by the form's check under the lock."""
        to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
        if to_field and not self.to_field_allowed(request, to_field):
            return  # the view refuses it
        obj = self.get_object(request, unquote(object_id), to_field)
        if obj is None or not self.has_change_permission(request, obj):
            return
        fields = flatten_fieldsets(self.get_fieldsets(request, obj))
        form_class = self.get_form(request, obj, change=True, fields=fields)
        look_up_urls(form_class(request.POST, request.FILES, instance=obj))
