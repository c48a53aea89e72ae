from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConnectorsConfig(AppConfig):
    """Connectors have no models; an app so that their texts have a catalogue."""

    name = "connectors"
    verbose_name = _("Connectors")
