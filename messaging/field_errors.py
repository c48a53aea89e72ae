"""A body's shape errors (pydantic's, from `messaging.schemas`) as the API answers them.

Every one is 40058 naming the field: a wrong type says the JSON type the field
takes and the one it got (`invalid field: text must be an object, not a string`),
an absent required field says "missing", anything else pydantic's words.
"""

from pydantic import ValidationError

from botadmin.errors import ApiError, Err

# pydantic's type errors → the JSON type the field takes.
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}
# pydantic names the member of a union (`str | int`) after the field's location.
_UNION_MEMBERS = {"str", "int", "float", "bool", "list", "dict"}


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def wrong_type(where: str, expected: str, value) -> ApiError:
    """40058 naming the field, the type it takes and the type it got."""
    return Err.FIELD_INVALID.error(
        f"invalid field: {where} must be {expected}, not {_json_type(value)}"
    )


def _location(error: dict) -> tuple:
    loc = error["loc"]
    if error["type"] in _EXPECTED and loc and loc[-1] in _UNION_MEMBERS:
        return loc[:-1]
    return loc


def field_error(error: ValidationError) -> ApiError:
    """The 40058 for a body `messaging.schemas.outbound_message` refused: its first error."""
    errors = error.errors(include_url=False)
    first = errors[0]
    loc = _location(first)
    # The first element of a discriminated union's location is its tag.
    where = ".".join(str(part) for part in loc[1:]) or "body"
    if first["type"] == "missing":
        return Err.FIELD_INVALID.error(f"invalid field: {where} is missing", empty_field=where)
    if first["type"] in _EXPECTED:
        expected = dict.fromkeys(
            _EXPECTED[e["type"]] for e in errors if e["type"] in _EXPECTED and _location(e) == loc
        )
        return wrong_type(where, " or ".join(expected), first["input"])
    return Err.FIELD_INVALID.error(f"invalid field: {where}: {first['msg']}")
