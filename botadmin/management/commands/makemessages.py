"""Django's makemessages with botadmin's defaults, so that one command writes the catalogues
exactly as they are committed (`tests/test_translations.py` checks it):

* it also collects the two forms that `botadmin.reasons.ngettext_noop` marks: a stored
  reason that counts something is translated with its plural when shown;
* `#:` references name the file without its line (`--add-location file`): an edit that moves
  lines does not rewrite every catalogue;
* texts no longer in the code are dropped (`--no-obsolete`), not kept as `#~` entries;
* the virtualenv, `var/`, the tests and the benchmarks are not searched.
"""

from django.core.management.commands import makemessages

NOT_SEARCHED = [".venv", "var", "tests", "bench"]


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=ngettext_noop:1,2"]

    def handle(self, *args, **options):
        if options.get("add_location") is None:
            options["add_location"] = "file"
        options["no_obsolete"] = True
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *NOT_SEARCHED]
        return super().handle(*args, **options)
