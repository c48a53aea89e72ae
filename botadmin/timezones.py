"""Time zones operators type in (a bot's quiet hours, an announcement's schedule)."""

from datetime import tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.utils import timezone


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA name the zoneinfo database lists, sorted (read once per process)."""
    return tuple(sorted(available_timezones()))


@cache
def _known() -> frozenset[str]:
    return frozenset(zone_names())


def known_zone(name: str) -> ZoneInfo | None:
    """The zone of this IANA name (e.g. Asia/Shanghai), or None when the zoneinfo
    database does not list it; file paths and other names ZoneInfo might open are refused."""
    return ZoneInfo(name) if name in _known() else None


def zone_or_default(name: str) -> tzinfo:
    """The zone of this IANA name; the server's (TIME_ZONE) when the name is empty or unknown."""
    return (known_zone(name) if name else None) or timezone.get_default_timezone()
