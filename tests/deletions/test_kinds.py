"""Every kind of row a deletion counts has a name in the operator's words
(deletions/kinds.py), in both languages: a model added to a deletion's steps without one
would show its model name on the confirmation pages."""

import pytest
from django.utils import translation

from deletions.kinds import NAMES, kind_name
from deletions.services import TARGETS


def _counted_models():
    for _target, steps in TARGETS.values():
        for step in steps:
            yield step.model
            yield from step.with_it


@pytest.mark.parametrize("model", sorted(set(_counted_models()), key=lambda m: m._meta.label))
def test_each_counted_kind_has_an_operators_name(model):
    assert model._meta.label in NAMES
    with translation.override("zh-hans"):
        chinese = kind_name(model)
    with translation.override("en"):
        assert chinese != kind_name(model)
