"""Our forms put no suffix after their labels: Django's default is a half-width ":"
in Chinese ("说明:") where the console's hand-made labels have none."""

import importlib
import pkgutil

import pytest
from django import forms
from django.apps import apps

from botadmin.forms import NoLabelSuffix

OURS = ("announcements", "audit", "botadmin", "connectors", "console", "conversations")
OURS += ("forwarding", "media", "messaging")


def _import_every_module():
    for name in OURS:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" not in info.name and ".management" not in info.name:
                importlib.import_module(info.name)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _is_the_admins(cls) -> bool:
    """A ModelAdmin's form (in an admin module) or one built on the admin's (its login)."""
    in_admin_module = any(part.startswith("admin") for part in cls.__module__.split(".")[1:])
    return in_admin_module or any(
        base.__module__.startswith("django.contrib.admin") for base in cls.__mro__
    )


@pytest.mark.django_db
def test_every_form_of_ours_outside_the_admin_has_no_label_suffix():
    """The admin's ModelAdmin forms keep Django's suffix, as every other admin page."""
    assert apps.ready
    _import_every_module()
    ours = {
        cls
        for cls in _subclasses(forms.BaseForm)
        if cls.__module__.split(".")[0] in OURS and not _is_the_admins(cls)
    }
    assert len(ours) > 10  # the walk found them
    missing = sorted(
        f"{c.__module__}.{c.__qualname__}" for c in ours if not issubclass(c, NoLabelSuffix)
    )
    assert missing == []
