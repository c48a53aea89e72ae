"""Django's makemessages, also collecting the two forms that `botadmin.reasons.ngettext_noop`
marks: a stored reason that counts something is translated with its plural when shown."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=ngettext_noop:1,2"]
