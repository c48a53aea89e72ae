"""URLs of a bot's own infrastructure (its bridge agent, its outbound proxy), which may
name a host by one label: `http://botadmin@proxy:3128`, `http://agent:8080`, a Docker or
Kubernetes service name, a name the local resolver completes.

Django's URLValidator wants a public-looking host (a dot and a top-level domain, or
`localhost`) and refused those as "Enter a valid URL." while the field's help text asked
for exactly that. Whether such a URL may be requested is not the validator's business:
botadmin.http decides by the addresses its host resolves to (the proxy and agent network
settings), when the settings are saved and again at each connection.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils.regex_helper import _lazy_re_compile
from django.utils.translation import gettext_lazy as _

# Django's host pattern with its domain and top-level domain made optional.
_ONE_LABEL_OR_MORE = (
    "("
    + URLValidator.hostname_re
    + "(?:"
    + URLValidator.domain_re
    + URLValidator.tld_re
    + ")?|localhost)"
)
if URLValidator.host_re not in URLValidator.regex.pattern:  # pragma: no cover
    raise ImportError("Django's URLValidator no longer builds its pattern from host_re")


class HttpURLValidator(URLValidator):
    """An http(s) URL, another scheme refused as such (code "scheme": a form field's
    `error_messages` may name the URL, "The agent URL must start with …"), any other
    fault with Django's message."""

    scheme_message = _("Enter a URL that starts with http:// or https://.")

    def __init__(self, **kwargs):
        kwargs.setdefault("schemes", ["http", "https"])
        super().__init__(**kwargs)

    def __call__(self, value):
        if isinstance(value, str) and value.split("://")[0].lower() not in self.schemes:
            raise ValidationError(self.scheme_message, code="scheme", params={"value": value})
        super().__call__(value)


class InternalURLValidator(HttpURLValidator):
    """An http(s) URL whose host may also be a single label (`proxy`), never a bare number
    (`http://1234/`, which resolvers read as an IPv4 address)."""

    regex = _lazy_re_compile(
        URLValidator.regex.pattern.replace(URLValidator.host_re, _ONE_LABEL_OR_MORE),
        re.IGNORECASE,
    )

    def __call__(self, value):
        super().__call__(value)
        host = urlsplit(value).hostname or ""
        if host.isdigit():
            raise ValidationError(self.message, code=self.code, params={"value": value})


class InternalURLField(models.URLField):
    """A URLField (the column stays one: migrations see a URLField) whose URL may name its
    host by one label; its form field too."""

    default_validators = [InternalURLValidator()]

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.URLField", args, kwargs

    def formfield(self, **kwargs):
        from .forms import InternalHttpURLField

        return super().formfield(**{"form_class": InternalHttpURLField, **kwargs})
