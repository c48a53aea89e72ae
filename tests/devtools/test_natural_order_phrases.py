"""The phrases natural order reads as a whole are the ones devtools/natural_order_phrases.py
takes from the pinned pypinyin: a new pin that changes them fails here (regenerate the
file, and fill the keys again in a migration)."""

import pytest

from botadmin.natural_order import PHRASES_FILE, sort_key
from devtools.natural_order_phrases import dictionary_readings, file_text, phrases_to_keep


@pytest.fixture(scope="module")
def readings():
    return dictionary_readings()


def test_the_phrases_file_is_what_the_script_writes_from_the_pinned_pypinyin(readings):
    assert PHRASES_FILE.read_text(encoding="utf-8") == file_text(phrases_to_keep(readings))


def test_every_phrase_of_the_dictionary_reads_as_the_dictionary_reads_it(readings):
    """As a whole name, and after a word (where no surname reading applies)."""
    wrong = [
        phrase
        for phrase, reading in readings.items()
        if sort_key(phrase).split(" ")[0] != reading.replace(" ", ".")
        or sort_key(f"team {phrase}").split(" ")[0] != "team." + reading.replace(" ", ".")
    ]

    assert wrong == []
