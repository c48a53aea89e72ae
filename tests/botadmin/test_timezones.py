"""botadmin/timezones.py: the zones the forms offer, and the words the search finds them by."""

from botadmin.timezones import ZONE_SEARCH_WORDS, offered_zone_names, zone_names


def test_every_zone_with_search_words_is_one_the_forms_offer():
    """A misspelt or retired zone name here would give its words to no option."""
    offered = set(offered_zone_names())

    assert sorted(set(ZONE_SEARCH_WORDS) - set(zone_names())) == []
    assert sorted(set(ZONE_SEARCH_WORDS) - offered) == []


def test_the_places_chinese_speaking_operators_pick_are_found_by_their_chinese_names():
    def zones_found_by(word: str) -> list[str]:
        return [zone for zone, words in ZONE_SEARCH_WORDS.items() if word in words]

    assert len(ZONE_SEARCH_WORDS) >= 40
    assert zones_found_by("深圳") == ["Asia/Shanghai"]
    assert zones_found_by("吉隆坡") == ["Asia/Kuala_Lumpur"]
    assert zones_found_by("迪拜") == ["Asia/Dubai"]
    assert zones_found_by("多伦多") == ["America/Toronto"]
    assert zones_found_by("芝加哥") == ["America/Chicago"]
    assert zones_found_by("莫斯科") == ["Europe/Moscow"]
    assert zones_found_by("奥克兰") == ["Pacific/Auckland"]


def test_every_zone_has_a_chinese_name_to_be_found_by():
    for zone, words in ZONE_SEARCH_WORDS.items():
        assert any("\u4e00" <= char <= "\u9fff" for char in words), zone
