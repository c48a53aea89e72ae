"""JSON that every database botadmin runs on can store.

Python's `json` reads NaN and Infinity, which are not JSON (RFC 8259) and which
neither PostgreSQL nor SQLite accepts in a JSON column; PostgreSQL also refuses
NUL characters in text and jsonb, and a lone surrogate cannot be encoded as
UTF-8. Everything we store from outside (API bodies, agent answers) passes here.

Nesting is limited too: no message body needs more than a few levels, and a
body of 10,000 nested brackets would otherwise exhaust Python's recursion
limit in the decoder or in any code that walks the value afterwards.
"""

import functools
import json
import math
import sys

from .errors import errmsg_value

# WeCom's deepest body (a template card) nests 5 levels.
MAX_DEPTH = 32


class TooDeep(ValueError):
    """JSON nested deeper than MAX_DEPTH (a ValueError, like any bad JSON)."""

    def __init__(self, limit: int = MAX_DEPTH):
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


class DuplicateKey(ValueError):
    """An object names a key twice (a ValueError, like any bad JSON); `path` is where:
    the keys from the top, a list's items by index (`text.content`, `articles.0.url`)."""

    def __init__(self, path: str):
        super().__init__(f"duplicate key {path}")
        self.path = path


def _not_json(constant: str):
    raise ValueError(f"{constant} is not a JSON value")


class _Repeated(Exception):
    """Raised by `_unique_object` to stop reading: where the key is is found afterwards."""


def _unique_object(pairs: list[tuple[str, object]]) -> dict:
    built = dict(pairs)
    if len(built) != len(pairs):
        raise _Repeated
    return built


@functools.cache
def _decoder(strict: bool, unique_keys: bool) -> json.JSONDecoder:
    # Built once: json.loads builds a decoder on each call given an option, which cost
    # more than reading a short body (3 µs of 5 for /api/send's text message).
    return json.JSONDecoder(
        parse_constant=_not_json,
        strict=strict,
        object_pairs_hook=_unique_object if unique_keys else None,
    )


def loads(
    raw: bytes | str, *, max_depth: int = MAX_DEPTH, strict: bool = True, unique_keys: bool = False
):
    """`json.loads` that refuses NaN and Infinity and nesting deeper than `max_depth`,
    and with `unique_keys` an object that names a key twice, even with the same value.

    Every refusal is a ValueError, like any bad JSON; TooDeep and DuplicateKey say which.
    `strict=False` accepts control characters (a raw line break) inside strings, as
    json.loads does with it; NUL is still found by `unstorable`.
    """
    repeated: list[tuple[dict, str]] = []
    try:
        text = _text(raw)
        try:
            value = _decoder(strict, unique_keys).decode(text)
        except _Repeated:
            # Refused: read again, slower, to say where.
            value = _read_noting_repeats(text, strict, repeated)
    except RecursionError:
        raise TooDeep(max_depth) from None
    except ValueError as error:
        # int() refuses more digits than sys.get_int_max_str_digits() (a guard against
        # quadratic conversion), telling a Python programmer how to lift the limit.
        if "integer string conversion" not in str(error):
            raise
        limit = sys.get_int_max_str_digits()
        raise ValueError(f"a number is too long: at most {limit} digits") from None
    # Counting brackets is fast; only a value with enough of them is walked.
    if sum(text.count(bracket) for bracket in "[{") > max_depth and (depth(value) > max_depth):
        raise TooDeep(max_depth)
    if repeated:
        holder, key = repeated[0]
        raise DuplicateKey(".".join([*_path_to(value, holder), key]))
    return value


def _text(raw: bytes | str) -> str:
    """What json.loads reads: bytes in the UTF it detects; text with a byte order mark
    is refused, as json.loads refuses it."""
    if isinstance(raw, str):
        if raw.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
        return raw
    return raw.decode(json.detect_encoding(raw), "surrogatepass")


def _read_noting_repeats(text: str, strict: bool, repeated: list[tuple[dict, str]]):
    """`text` read whole, the first object naming a key twice (the first one closed) and
    that key put in `repeated`: the decoder builds an object before the one holding it,
    so where it is is known only once the whole value is read."""

    def note(pairs: list[tuple[str, object]]) -> dict:
        built = dict(pairs)
        if len(built) != len(pairs) and not repeated:
            repeated.append((built, _first_repeated(pairs)))
        return built

    return json.JSONDecoder(parse_constant=_not_json, strict=strict, object_pairs_hook=note).decode(
        text
    )


def _first_repeated(pairs: list[tuple[str, object]]) -> str:
    seen = set()
    for key, _value in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no key repeats")


def _path_to(value, target: dict) -> list[str]:
    """The keys and indexes from `value` down to the object `target` (the very object,
    not an equal one), without recursion."""
    pending = [(value, [])]
    while pending:
        node, path = pending.pop()
        if node is target:
            return path
        if isinstance(node, dict):
            pending.extend((child, [*path, key]) for key, child in node.items())
        elif isinstance(node, list):
            pending.extend((child, [*path, str(index)]) for index, child in enumerate(node))
    raise AssertionError("the object is not in the value")


def depth(value) -> int:
    """How deeply lists and objects nest in a decoded value (a scalar is 0), without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        node, level = pending.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in children)
    return deepest


def unstorable(node, where: str) -> str | None:
    """What in `node` (a decoded JSON value, keys included) no database stores, or None."""
    if isinstance(node, str):
        if "\x00" in node:
            return f"{errmsg_value(where)} contains a NUL character"
        try:
            node.encode("utf-8")
        except UnicodeEncodeError:
            return f"{errmsg_value(where)} is not valid UTF-8"
    elif isinstance(node, float) and not math.isfinite(node):
        return f"{errmsg_value(where)} is not a finite number"
    elif isinstance(node, dict):
        for key, value in node.items():
            if problem := unstorable(key, f"{where} key") or unstorable(value, f"{where}.{key}"):
                return problem
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if problem := unstorable(value, f"{where}.{index}"):
                return problem
    return None
