"""Numbers from the environment (or `.env`), read strictly: settings.py and gunicorn_conf.py.

django-environ's `env.int` hands an empty value to `int()`: `BOTADMIN_AUDIT_RETENTION_DAYS=`
in an EnvironmentFile, which the documentation says keeps the audit log, stopped every service
at start-up with `ValueError: invalid literal for int() with base 10: ''`. Its `env.float`
drops whatever is not a digit first: `5s` was 5 seconds, `1e3` 13, `abc` a bare ValueError.

Here an empty value (or blanks) is the setting's default, or what its documentation says
empty means (`empty=`); anything that is not a number stops start-up with
ImproperlyConfigured naming the variable and the value.
"""

import math
import os

from django.core.exceptions import ImproperlyConfigured

_DEFAULT = object()


def env_int(name: str, default: int | None, *, empty=_DEFAULT) -> int | None:
    """The whole number in the variable `name`; `default` when unset, and when empty too
    unless `empty` says otherwise."""
    value = _value(name)
    if value is None:
        return default
    if not value:
        return default if empty is _DEFAULT else empty
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    """The number in the variable `name` (`1.5`, `30`, `1e3`); `default` when unset or empty."""
    value = _value(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}")
    return number


def _value(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()
