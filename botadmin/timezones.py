"""Time zones operators type in (a bot's quiet hours, an announcement's schedule)."""

import json
import zoneinfo
from datetime import tzinfo
from functools import cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Offered first, before every zone in alphabetical order: where botadmin's users mostly are.
COMMON_ZONES = (
    "Asia/Shanghai",
    "UTC",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Macau",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Kolkata",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
)


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


# Old names the zoneinfo database keeps as links for compatibility (its "backward" file):
# PRC, W-SU, US/Pacific, Asia/Calcutta. They are left out when zone.tab, the list of the
# places' own names, cannot be read: the names without a region, and these regions.
LEGACY_REGIONS = ("US/", "Canada/", "Mexico/", "Brazil/", "Chile/", "SystemV/", "Etc/")


@cache
def _place_names() -> frozenset[str]:
    """The zones zone.tab lists (one per place, by its current name; none of the
    backward links), from the zoneinfo database Python reads; empty when none has it."""
    tables = [Path(folder) / "zone.tab" for folder in zoneinfo.TZPATH]
    try:
        tables.append(resources.files("tzdata.zoneinfo") / "zone.tab")
    except ImportError:  # the tzdata package is only needed where the system has no database
        pass
    for table in tables:
        try:
            text = table.read_text(encoding="utf-8")
        except OSError:
            continue
        return frozenset(
            line.split("\t")[2].strip()
            for line in text.splitlines()
            if line and not line.startswith("#") and line.count("\t") >= 2
        )
    return frozenset()


def _is_place(name: str) -> bool:
    if name in NOT_PLACES or name.startswith(LEGACY_REGIONS):
        return False
    places = _place_names()
    return name in places if places else "/" in name


@cache
def offered_zone_names() -> tuple[str, ...]:
    """The zones a form offers to choose from: places by their current names (no
    deprecated alias such as PRC or Asia/Calcutta), and UTC; the common ones first. A
    stored zone that is none of them still works (`known_zone`)."""
    zones = [name for name in zone_names() if name == "UTC" or _is_place(name)]
    common = [name for name in COMMON_ZONES if name in zones]
    return (*common, *(name for name in zones if name not in common))


def zone_choices(kept: str = "") -> list[str]:
    """The zones a form lets one choose: the offered ones (the common first), and the
    server's (TIME_ZONE) and `kept` (the edited object's stored zone) even when they are
    no place or an old alias, so that saving it again neither fails nor changes it. A
    name the zoneinfo database does not list is not kept."""
    zones = offered_zone_names()
    kept_names = {kept, settings.TIME_ZONE} - set(zones)
    return [*(sorted(name for name in kept_names if known_zone(name))), *zones]


def grouped_zone_choices(kept: str = "") -> list:
    """`zone_choices` as a select's groups: the stored and common zones, then all others."""
    zones = zone_choices(kept)
    first = [z for z in zones if z not in COMMON_ZONES and z not in offered_zone_names()]
    first += [z for z in COMMON_ZONES if z in zones]
    rest = [z for z in zones if z not in first]
    return [
        (_("Common time zones"), [(z, z) for z in first]),
        (_("All time zones"), [(z, z) for z in rest]),
    ]


# Words a zone is also found by in the time-zone search (zone-filter.js): the common
# zones' places in Chinese, and what people call them rather than the zone's city.
# Search words only, never shown: not translated.
ZONE_SEARCH_WORDS = {
    "Asia/Shanghai": "北京 上海 中国 Beijing China",
    "Asia/Hong_Kong": "香港",
    "Asia/Taipei": "台北 台湾",
    "Asia/Macau": "澳门",
    "Asia/Urumqi": "乌鲁木齐 新疆",
    "Asia/Singapore": "新加坡",
    "Asia/Tokyo": "东京 日本 Japan",
    "Asia/Seoul": "首尔 韩国 Korea",
    "Asia/Kolkata": "印度 新德里 孟买 India Delhi Mumbai",
    "Europe/London": "伦敦 英国 UK Britain",
    "Europe/Berlin": "柏林 德国 Germany",
    "Europe/Paris": "巴黎 法国 France",
    "America/New_York": "纽约 美国东部 Eastern",
    "America/Los_Angeles": "洛杉矶 旧金山 美国西部 San Francisco Pacific",
    "Australia/Sydney": "悉尼 澳大利亚 Australia",
    "UTC": "协调世界时 GMT",
}


def zone_filter_attrs() -> dict[str, str]:
    """A time-zone select's attributes for static/botadmin/zone-filter.js, which puts a
    search box before it that narrows its ~400 zones as one types (without script the
    select works as it is): the box's label and hint, and what it says of the matches."""
    return {
        "data-zone-filter": "",
        "data-filter-label": _("Find a time zone"),
        "data-filter-placeholder": _("Type a city or region, e.g. Shanghai"),
        # %(count)s: how many zones match what was typed.
        "data-filter-count": _("Matching time zones: %(count)s"),
        "data-filter-none": _("No time zone matches. Try a city in English, e.g. Tokyo."),
        "data-filter-words": json.dumps(ZONE_SEARCH_WORDS, ensure_ascii=False),
    }


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
