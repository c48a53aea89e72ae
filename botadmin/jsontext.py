"""JSON that every database botadmin runs on can store.

Python's `json` reads NaN and Infinity, which are not JSON (RFC 8259) and which
neither PostgreSQL nor SQLite accepts in a JSON column; PostgreSQL also refuses
NUL characters in text and jsonb, and a lone surrogate cannot be encoded as
UTF-8. Everything we store from outside (API bodies, agent answers) passes here.

Nesting is limited too: no message body needs more than a few levels, and a
body of 10,000 nested brackets would otherwise exhaust Python's recursion
limit in the decoder or in any code that walks the value afterwards.
"""

import json
import math
import sys

# WeCom's deepest body (a template card) nests 5 levels.
MAX_DEPTH = 32


class TooDeep(ValueError):
    """JSON nested deeper than MAX_DEPTH (a ValueError, like any bad JSON)."""

    def __init__(self, limit: int = MAX_DEPTH):
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


def _not_json(constant: str):
    raise ValueError(f"{constant} is not a JSON value")


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH, strict: bool = True):
    """`json.loads` that refuses NaN and Infinity and nesting deeper than `max_depth`.

    Every refusal is a ValueError, like any bad JSON; TooDeep says which.
    `strict=False` accepts control characters (a raw line break) inside strings, as
    json.loads does with it; NUL is still found by `unstorable`.
    """
    try:
        value = json.loads(raw, parse_constant=_not_json, strict=strict)
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
    opening = (b"[", b"{") if isinstance(raw, bytes | bytearray) else ("[", "{")
    if sum(raw.count(bracket) for bracket in opening) > max_depth and (depth(value) > max_depth):
        raise TooDeep(max_depth)
    return value


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
            return f"{where} contains a NUL character"
        try:
            node.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where} is not valid UTF-8"
    elif isinstance(node, float) and not math.isfinite(node):
        return f"{where} is not a finite number"
    elif isinstance(node, dict):
        for key, value in node.items():
            if problem := unstorable(key, f"{where} key") or unstorable(value, f"{where}.{key}"):
                return problem
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if problem := unstorable(value, f"{where}.{index}"):
                return problem
    return None
