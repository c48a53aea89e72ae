"""Writes botadmin/natural_order_phrases.json, the phrases natural order reads as a whole
(botadmin.natural_order), from the pinned pypinyin's dictionary of phrases:

    .venv/bin/python -m devtools.natural_order_phrases

Run it after moving pypinyin's pin, and add a migration that fills the keys again (as
conversations 0033 does) when the file changed. tests/devtools/test_natural_order_phrases.py
fails while the file is not what this writes.

A phrase is kept when the key would read it otherwise without it: by its characters'
first readings, or at a name's start by the surname rule (曾经 ceng jing, not zeng
jing), or, inside it, by a shorter phrase already kept. So every phrase of pypinyin's
dictionary, as a whole name or inside one, reads as the dictionary reads it: with pypinyin
0.55, 3,928 of its 47,111 phrases (3,437 read otherwise than by their characters' first
readings)."""

import json
import os
from pathlib import Path

from botadmin.natural_order import PHRASES_FILE, han_readings, is_han

ROOT = Path(__file__).resolve().parents[1]


def dictionary_readings() -> dict[str, str]:
    """Each phrase of pypinyin's dictionary and its first reading, without tones, as
    lazy_pinyin reads it with the dictionary loaded."""
    is_han("中")  # pypinyin imported as natural order imports it: without its phrases
    import pypinyin
    from pypinyin.contrib.tone_convert import to_normal

    path = Path(os.path.dirname(pypinyin.__file__)) / "phrases_dict.json"
    phrases = json.loads(path.read_text(encoding="utf-8"))
    return {
        phrase: " ".join(to_normal(readings[0]) for readings in syllables)
        for phrase, syllables in phrases.items()
        # A character without a reading of its own ends a run of Han characters.
        if all(map(is_han, phrase))
    }


def phrases_to_keep(readings: dict[str, str] | None = None) -> dict[str, str]:
    readings = readings or dictionary_readings()
    longest = max(map(len, readings))
    kept: dict[str, str] = {}
    while True:  # a phrase kept can change how a longer one reads: until none does
        added = {
            phrase: reading
            for phrase, reading in readings.items()
            if phrase not in kept
            and any(
                " ".join(han_readings(phrase, first_of_name=first, phrases=kept, longest=longest))
                != reading
                for first in (True, False)
            )
        }
        if not added:
            return dict(sorted(kept.items()))
        kept.update(added)


def file_text(phrases: dict[str, str]) -> str:
    """One phrase a line, in code point order, for a readable diff."""
    lines = [f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v)}" for k, v in phrases.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main():
    phrases = phrases_to_keep()
    PHRASES_FILE.write_text(file_text(phrases), encoding="utf-8")
    print(f"{PHRASES_FILE.relative_to(ROOT)}: {len(phrases):,} phrases")


if __name__ == "__main__":
    main()
