"""Time zones operators type in (a bot's quiet hours, an announcement's schedule)."""

from datetime import tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.utils import timezone


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA name the zoneinfo database lists, sorted (read once per process)."""
    return tuple(sorted(available_timezones()))


# Names the zoneinfo database lists that are no place a person is in: the host's own
# zone, tzcode's test zone, aliases of UTC, and zones defined by a rule or an offset
# alone (EST5EDT; Etc/GMT-8, whose sign is the reverse of what it reads).
NOT_PLACES = frozenset(
    {"localtime", "posixrules", "Factory"}
    | {"GMT", "GMT+0", "GMT-0", "GMT0", "Greenwich", "UCT", "Universal", "Zulu"}
    | {"CET", "EET", "MET", "WET", "EST", "HST", "MST", "CST6CDT", "EST5EDT", "MST7MDT", "PST8PDT"}
)


@cache
def offered_zone_names() -> tuple[str, ...]:
    """The zones a form offers to choose from: places, and UTC. A stored zone that is
    none of them still works (`known_zone`)."""
    return tuple(
        name for name in zone_names() if name not in NOT_PLACES and not name.startswith("Etc/")
    )


def zone_choices(kept: str = "") -> list[str]:
    """The zones a form lets one choose: the offered ones, and the server's (TIME_ZONE) and
    `kept` (the edited object's stored zone) even when they are no place, so that saving it
    again neither fails nor changes it. A name the zoneinfo database does not list is not kept."""
    zones = offered_zone_names()
    kept_names = {kept, settings.TIME_ZONE} - set(zones)
    return sorted([*zones, *(name for name in kept_names if known_zone(name))])


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
