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


# Words a zone is also found by in the time-zone search (zone-filter.js): the places
# Chinese-speaking operators are likely to pick, in Chinese (the cities, their country or
# region, and the cities the zone also covers), and what people call a zone rather than
# its city in English. The one list of them: add a place here. Search words only, never
# shown: not translated.
ZONE_SEARCH_WORDS = {
    # China and its neighbours
    "Asia/Shanghai": (
        "北京 上海 中国 广州 深圳 杭州 南京 苏州 成都 重庆 武汉 西安 天津 厦门 青岛 大连"
        " 沈阳 长沙 郑州 福州 昆明 哈尔滨 拉萨 北京时间 Beijing China Guangzhou Shenzhen"
    ),
    "Asia/Hong_Kong": "香港 Hong Kong",
    "Asia/Taipei": "台北 台湾 台中 高雄 Taiwan",
    "Asia/Macau": "澳门 Macao",
    "Asia/Urumqi": "乌鲁木齐 新疆 Xinjiang",
    "Asia/Ulaanbaatar": "乌兰巴托 蒙古 Mongolia",
    "Asia/Tokyo": "东京 日本 大阪 Japan Osaka",
    "Asia/Seoul": "首尔 韩国 Korea",
    "Asia/Pyongyang": "平壤 朝鲜",
    # Southeast and South Asia
    "Asia/Singapore": "新加坡",
    "Asia/Kuala_Lumpur": "吉隆坡 马来西亚 Malaysia",
    "Asia/Bangkok": "曼谷 泰国 Thailand",
    "Asia/Ho_Chi_Minh": "胡志明市 西贡 越南 河内 Vietnam Saigon Hanoi",
    "Asia/Jakarta": "雅加达 印度尼西亚 印尼 Indonesia",
    "Asia/Manila": "马尼拉 菲律宾 Philippines",
    "Asia/Yangon": "仰光 缅甸 Myanmar",
    "Asia/Phnom_Penh": "金边 柬埔寨 Cambodia",
    "Asia/Brunei": "文莱",
    "Asia/Kolkata": "印度 新德里 孟买 India Delhi Mumbai",
    "Asia/Dhaka": "达卡 孟加拉国 Bangladesh",
    "Asia/Karachi": "卡拉奇 巴基斯坦 伊斯兰堡 Pakistan",
    "Asia/Colombo": "科伦坡 斯里兰卡 Sri Lanka",
    "Asia/Kathmandu": "加德满都 尼泊尔 Nepal",
    # Central and West Asia
    "Asia/Almaty": "阿拉木图 哈萨克斯坦 Kazakhstan",
    "Asia/Tashkent": "塔什干 乌兹别克斯坦 Uzbekistan",
    "Asia/Dubai": "迪拜 阿联酋 阿布扎比 UAE Abu Dhabi",
    "Asia/Riyadh": "利雅得 沙特阿拉伯 沙特 Saudi Arabia",
    "Asia/Qatar": "多哈 卡塔尔 Doha",
    "Asia/Tehran": "德黑兰 伊朗 Iran",
    "Asia/Jerusalem": "耶路撒冷 以色列 特拉维夫 Israel Tel Aviv",
    "Europe/Istanbul": "伊斯坦布尔 土耳其 Turkey",
    # Europe
    "Europe/London": "伦敦 英国 UK Britain",
    "Europe/Dublin": "都柏林 爱尔兰 Ireland",
    "Europe/Lisbon": "里斯本 葡萄牙 Portugal",
    "Europe/Paris": "巴黎 法国 France",
    "Europe/Berlin": "柏林 德国 法兰克福 慕尼黑 Germany Frankfurt Munich",
    "Europe/Amsterdam": "阿姆斯特丹 荷兰 Netherlands",
    "Europe/Brussels": "布鲁塞尔 比利时 Belgium",
    "Europe/Zurich": "苏黎世 瑞士 日内瓦 Switzerland Geneva",
    "Europe/Vienna": "维也纳 奥地利 Austria",
    "Europe/Rome": "罗马 意大利 米兰 Italy Milan",
    "Europe/Madrid": "马德里 西班牙 Spain",
    "Europe/Stockholm": "斯德哥尔摩 瑞典 Sweden",
    "Europe/Warsaw": "华沙 波兰 Poland",
    "Europe/Athens": "雅典 希腊 Greece",
    "Europe/Moscow": "莫斯科 俄罗斯 Russia",
    # Africa
    "Africa/Cairo": "开罗 埃及 Egypt",
    "Africa/Lagos": "拉各斯 尼日利亚 Nigeria",
    "Africa/Nairobi": "内罗毕 肯尼亚 Kenya",
    "Africa/Johannesburg": "约翰内斯堡 南非 South Africa",
    # The Americas
    "America/New_York": "纽约 美国东部 华盛顿 波士顿 Eastern Washington Boston",
    "America/Chicago": "芝加哥 美国中部 休斯顿 达拉斯 Central Houston Dallas",
    "America/Denver": "丹佛 美国山地 Mountain",
    "America/Phoenix": "凤凰城 菲尼克斯 亚利桑那 Arizona",
    "America/Los_Angeles": "洛杉矶 旧金山 西雅图 硅谷 美国西部 San Francisco Seattle Pacific",
    "America/Anchorage": "安克雷奇 阿拉斯加 Alaska",
    "Pacific/Honolulu": "檀香山 夏威夷 Hawaii",
    "America/Toronto": "多伦多 加拿大 渥太华 蒙特利尔 Canada Ottawa Montreal",
    "America/Vancouver": "温哥华",
    "America/Mexico_City": "墨西哥城 墨西哥 Mexico",
    "America/Sao_Paulo": "圣保罗 巴西 里约热内卢 Brazil Rio",
    "America/Argentina/Buenos_Aires": "布宜诺斯艾利斯 阿根廷 Argentina",
    "America/Santiago": "圣地亚哥 智利 Chile",
    "America/Lima": "利马 秘鲁 Peru",
    "America/Bogota": "波哥大 哥伦比亚 Colombia",
    # Oceania
    "Australia/Sydney": "悉尼 澳大利亚 堪培拉 Australia Canberra",
    "Australia/Melbourne": "墨尔本",
    "Australia/Brisbane": "布里斯班",
    "Australia/Adelaide": "阿德莱德",
    "Australia/Perth": "珀斯",
    "Pacific/Auckland": "奥克兰 新西兰 惠灵顿 New Zealand Wellington",
    "UTC": "协调世界时 格林尼治 GMT",
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
