"""What an operator action was about, named when the entry is read.

Most targets are named by what operators wrote (a bot's name, a group's, an
announcement's title): the name kept with the entry (`target_label`) is right in
any language. A model whose name is made of words or times (a message: "发出 文本
…"; a contact sync: when it was requested) has `audit_parts()`, the parts of its
name that do not change, stored with the entry (`target_parts`), and
`audit_name(parts)`, which says them in the reader's language and time zone. The
stored name stays the fallback: entries recorded before the parts were kept, and
parts a model no longer reads.
"""

from django.apps import apps
from django.utils import translation
from django.utils.text import capfirst


def _model(type_label: str):
    try:
        return apps.get_model(type_label)
    except (LookupError, ValueError):  # blank, or a model that is gone
        return None


def parts_of(target) -> dict:
    """What an entry keeps to name `target` when read: {} for a target named by its label."""
    parts = getattr(target, "audit_parts", None)
    return parts() if parts is not None else {}


def stored_label(target) -> str:
    """The name kept with the entry, in English: the fallback when its parts cannot be read."""
    with translation.override("en"):
        return str(target)


def target_name(action) -> str:
    """The target's name in the reader's language and time zone (`target_label` as stored
    for entries without parts)."""
    model = _model(action.target_type) if action.target_parts else None
    name = getattr(model, "audit_name", None)
    if name is not None:
        try:
            return name(action.target_parts)
        except (KeyError, TypeError, ValueError):  # parts written by an older version
            pass
    return action.target_label


def target_type_words(action) -> str:
    """The target's kind in the reader's language ("消息", "Message"); the stored label of
    a model that is gone."""
    model = _model(action.target_type)
    return capfirst(model._meta.verbose_name) if model is not None else action.target_type
