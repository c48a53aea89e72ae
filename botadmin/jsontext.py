"""JSON that every database botadmin runs on can store.

Python's `json` reads NaN and Infinity, which are not JSON (RFC 8259) and which
neither PostgreSQL nor SQLite accepts in a JSON column; PostgreSQL also refuses
NUL characters in text and jsonb, and a lone surrogate cannot be encoded as
UTF-8. Everything we store from outside (API bodies, agent answers) passes here.
"""

import json
import math


def _not_json(constant: str):
    raise ValueError(f"{constant} is not a JSON value")


def loads(raw: bytes | str):
    """`json.loads` that refuses NaN and Infinity (ValueError, like any bad JSON)."""
    return json.loads(raw, parse_constant=_not_json)


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
