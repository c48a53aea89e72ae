from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeletionsConfig(AppConfig):
    name = "deletions"
    verbose_name = _("Deletions")
