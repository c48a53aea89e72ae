"""Names in the order a Chinese reader looks for them: 用户2 before 用户10, and Chinese
names by their pinyin, among the Latin ones as in WeCom's contact list: Alice, bob, 李四,
王五, 张三.

A name's sort key spells it out unit by unit, the units joined by ".":

* a Han character as its pinyin without tones (张 → zhang, 绿 → lv), through pypinyin;
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
z. A character is read by the first reading pypinyin gives it, which is not always the
one a name needs (长沙 zhang sha, 重庆 zhong qing, the surname 曾 ceng): its dictionary of
phrases, which reads 长沙 and 重庆 right, costs 44 MB in every process that sorts a name.

Keys compare as Python compares strings, code point by code point: sorted(names,
key=sort_key) is the order of the stored keys (Conversation.name_sort_key), which every
database compares byte by byte (conversations.sort_keys). A change of what this returns,
pypinyin's pin included, needs a data migration that fills the keys again (as
conversations 0031 does)."""

import functools
import os
import re
import unicodedata

KEY_LENGTH = 255
_UNITS = re.compile(r"\d+|[^\W\d_]+")  # runs of digits, runs of letters of any script
_MOST_DIGITS = 99  # what the two counting digits can say


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


@functools.lru_cache(maxsize=65_536)  # more than the Han characters pypinyin reads
def _reading(char: str) -> str:
    """A character's pinyin, or the character itself when it is not a Han one."""
    return _pinyin()(char)[0]


def _words(letters: str):
    """The units of a run of letters: each Han character's pinyin, the letters between."""
    if letters.isascii():
        yield letters
        return
    word = ""
    for char in letters:
        reading = _reading(char)
        if reading == char:
            word += char
            continue
        if word:
            yield _spelled(word)
            word = ""
        yield reading
    if word:
        yield _spelled(word)


def _spelled(word: str) -> str:
    bare = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return bare if bare.isascii() else word


def _number(digits: str) -> str:
    value = "".join(str(unicodedata.digit(d)) for d in digits).lstrip("0") or "0"
    return f"{min(len(value), _MOST_DIGITS):02d}{value}"


def sort_key(name: str) -> str:
    units = []
    for run in _UNITS.findall(unicodedata.normalize("NFKC", name).casefold()):
        units.extend([_number(run)] if run[0].isdigit() else _words(run))
    return f"{'.'.join(units)} {name}"[:KEY_LENGTH]
