"""Yes-or-no settings from the environment (or `.env`), read strictly: settings.py.

django-environ's `env.bool` is true for a handful of words and false for anything else:
`DEBUG=ture` was debug off and `BEHIND_HTTPS_PROXY=yes please` served without HTTPS
redirects, both silently. Here an empty value (or blanks) is the setting's default, as for
numbers (botadmin/env_numbers.py), and a value that is not one of the words below stops
start-up with ImproperlyConfigured naming the variable, the value and the words it takes.
"""

import os

from django.core.exceptions import ImproperlyConfigured

TRUE = ("true", "1", "yes", "on", "y")
FALSE = ("false", "0", "no", "off", "n")


def env_bool(name: str, default: bool) -> bool:
    """Whether the variable `name` says yes (any case); `default` when unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of {', '.join(TRUE)} (yes) or {', '.join(FALSE)} (no), not {value!r}"
    )
