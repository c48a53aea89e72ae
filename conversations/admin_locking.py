"""The admin's change forms that are checked against the row they are saved over."""

# Set on a request whose change form reads its row under the row's lock.
_READ_LOCKED = "_change_form_read_locked"


class ChecksTheRowItSavesOver:
    """A posted change form reads its row under the row's lock, held till the view's
    transaction ends (Django runs a posted change form in one): the form is checked
    against the row it is saved over, as the console checks a bot's connector settings
    (conversations.bot_changes.change_connector_settings), and nothing committed between
    the check and the save goes unchecked or is undone by it."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        setattr(request, _READ_LOCKED, request.method == "POST" and object_id is not None)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None or not getattr(request, _READ_LOCKED, False):
            return obj
        return type(obj).objects.select_for_update().get(pk=obj.pk)  # read again, locked
