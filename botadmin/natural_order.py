"""Names in the order a Chinese reader looks for them: 用户2 before 用户10, and Chinese
names by their pinyin, among the Latin ones as in WeCom's contact list: Alice, bob, 李四,
王五, 张三.

A name's sort key spells it out unit by unit, the units joined by ".":

* a Han character as its pinyin without tones (张 → zhang, 绿 → lv), through pypinyin,
  a run of them read as a whole (below);
* a run of digits as its value: two digits counting the digits, then the digits
  without leading zeros (2 → 012, 10 → 0210, ２ and 02 → 012), so numbers compare by
  their value, whatever their length;
* a run of letters of another script as written, case-folded, a Latin letter without its
  accents (Alice → alice, José → jose).

Spaces, punctuation and symbols only separate units: 【重要】通知群 sorts under Z. Then
comes a space and the name as written, so that names spelled alike stay together in one
fixed order ("Li Ming" before 李明, 张伟 before 章伟), and the whole is cut to
KEY_LENGTH characters.

What follows: a number comes before a word in the same place (用户2 before 用户a), a
shorter spelling before a longer one (张 before 张三, 西安 before 先), and a name with no
letter or digit first. Letters that are neither Latin nor Han (kana, Cyrillic) come after
z.

A run of Han characters is read from its start, the longest phrase there first: 长沙
chang sha, 重庆 chong qing, 厦门 xia men, 万俟 mo qi, not each character by the first
reading pypinyin gives it (长 zhang, 重 zhong, 厦 sha). The phrases are 3,928 of the
47,111 of pypinyin's dictionary (0.55), as it reads them: the 3,437 that read otherwise than
their characters' first readings, and 491 the surname rule or a shorter phrase inside would
misread (PHRASES_FILE, written by devtools/natural_order_phrases.py). So every phrase of
the dictionary reads as the dictionary says, for 0.6 MB (tracemalloc), read in 16 ms on the
first key; the whole dictionary costs 44 MB in every process that sorts a name, and
deriving the phrases from it on the first key 9 s and 44 MB of RSS more (measured
2026-12-06 on the loaded 2-core machine; pypinyin itself: 11 MB of RSS and 0.1–0.2 s). A name's
first Han character, with nothing but spaces, punctuation or symbols before it, takes its
surname reading when it is one of SURNAMES (曾伟 zeng wei, 单丹 shan dan): a person's name
(`person=True`, a contact of kind user) always, as it starts with the surname (曾经理 zeng
jing li, 解放 xie fang, 单于洋 shan yu yang); any other name (a group's) unless a phrase
starts there (曾经 ceng jing, 单位 dan wei), as it is as often a word as a person's name
(WeCom names a group by its members: 曾伟、李四). Still read wrong: a person's name that
is not surname first (查理 zha li, 乐乐 yue le), a group's named after a person that is
also a phrase (曾经理的群 ceng jing li), and a rarer surname (长 chang, 重 chong).

Keys compare as Python compares strings, code point by code point: sorted(names,
key=sort_key) is the order of the stored keys (Conversation.name_sort_key), which every
database compares byte by byte (conversations.sort_keys). A change of what this returns,
pypinyin's pin or the phrases included, needs a data migration that fills the keys again
(as conversations 0031, 0033 and 0035 do)."""

import functools
import itertools
import json
import os
import re
import unicodedata
from pathlib import Path

KEY_LENGTH = 255
_UNITS = re.compile(r"\d+|[^\W\d_]+")  # runs of digits, runs of letters of any script
_MOST_DIGITS = 99  # what the two counting digits can say

# Phrases read otherwise than by their characters' first readings (or than the surname
# rule would read them at a name's start), as pypinyin's dictionary reads them, without
# tones: made from the pinned pypinyin by devtools/natural_order_phrases.py.
PHRASES_FILE = Path(__file__).with_name("natural_order_phrases.json")

# Common surnames whose first reading in pypinyin is not their reading as a surname: the
# first Han character of a person's name takes it; of another name, unless a phrase
# starts there (曾经 ceng jing).
SURNAMES = {
    "曾": "zeng",  # ceng: 曾经
    "单": "shan",  # dan: 单位
    "解": "xie",  # jie: 解决
    "仇": "qiu",  # chou: 仇恨
    "区": "ou",  # qu: 区域
    "查": "zha",  # cha: 查询
    "朴": "piao",  # pu: 朴素 (Korean surnames, 朴 Park)
    "盖": "ge",  # gai: 盖章
    "乐": "yue",  # le: 快乐 (乐 yue and le are both surnames; yue is the common one)
    "缪": "miao",  # mou: 绸缪
    "翟": "zhai",  # di
    "覃": "qin",  # tan
    "阚": "kan",  # han
    "薄": "bo",  # bao: 薄饼
    "卜": "bu",  # bo: 萝卜
}


@functools.cache
def _pinyin():
    """pypinyin's lazy_pinyin, imported on the first key (13 MB): a process that sorts
    no name does without it."""
    # Read by pypinyin when imported: each character's own reading, no phrases (above);
    # and no copy of its dictionary, which only readings added at run time would need.
    os.environ["PYPINYIN_NO_PHRASES"] = "1"
    os.environ["PYPINYIN_NO_DICT_COPY"] = "1"
    from pypinyin import Style, lazy_pinyin

    return functools.partial(lazy_pinyin, style=Style.NORMAL)


@functools.cache
def _phrases() -> tuple[dict[str, str], int]:
    """The phrases (PHRASES_FILE) and the length of the longest, read on the first key."""
    phrases = json.loads(PHRASES_FILE.read_text(encoding="utf-8"))
    return phrases, max(map(len, phrases), default=0)


@functools.lru_cache(maxsize=65_536)  # more than the Han characters pypinyin reads
def _reading(char: str) -> str:
    """A character's pinyin, or the character itself when it is not a Han one."""
    return _pinyin()(char)[0]


def is_han(char: str) -> bool:
    return _reading(char) != char


def han_readings(
    run: str, *, first_of_name: bool, phrases: dict[str, str], longest: int, person: bool = False
) -> list[str]:
    """The syllables of a run of Han characters: from the start, the longest phrase
    there, else the character, by its surname reading when it begins the name; a
    person's surname before any phrase."""
    readings = []
    at = 0
    if person and first_of_name and (surname := SURNAMES.get(run[0])):
        readings.append(surname)
        at = 1
    while at < len(run):
        for length in range(min(longest, len(run) - at), 1, -1):
            if phrase := phrases.get(run[at : at + length]):
                readings.extend(phrase.split())
                at += length
                break
        else:
            char = run[at]
            surname = SURNAMES.get(char) if at == 0 and first_of_name else None
            readings.append(surname or _reading(char))
            at += 1
    return readings


def _words(letters: str, first_of_name: bool, person: bool) -> tuple[str, ...]:
    """The units of a run of letters: the pinyin of each run of Han characters in it, read
    as a whole, and the letters between."""
    return (letters,) if letters.isascii() else _read(letters, first_of_name, person)


@functools.lru_cache(maxsize=8_192)  # runs of a few characters: well under a megabyte
def _read(letters: str, first_of_name: bool, person: bool) -> tuple[str, ...]:
    phrases, longest = _phrases()
    words = []
    for han, chars in itertools.groupby(letters, key=is_han):
        run = "".join(chars)
        if han:
            words += han_readings(
                run, first_of_name=first_of_name, phrases=phrases, longest=longest, person=person
            )
        else:
            words.append(_spelled(run))
        first_of_name = False
    return tuple(words)


def _spelled(word: str) -> str:
    bare = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return bare if bare.isascii() else word


def _number(digits: str) -> str:
    value = "".join(str(unicodedata.digit(d)) for d in digits).lstrip("0") or "0"
    return f"{min(len(value), _MOST_DIGITS):02d}{value}"


def sort_key(name: str, *, person: bool = False) -> str:
    """The key of `name`; `person`: a person's name, which starts with the surname."""
    units = []
    for run in _UNITS.findall(unicodedata.normalize("NFKC", name).casefold()):
        units.extend((_number(run),) if run[0].isdigit() else _words(run, not units, person))
    return f"{'.'.join(units)} {name}"[:KEY_LENGTH]
