"""Constrained types for request bodies, and the strict JSON decoding every body goes through.

Whatever reaches a route has been checked here, so no request can make PostgreSQL (or the
arithmetic behind it) fail: text has no NUL and is not blank, integers stay far inside BIGINT,
rates are finite decimals that fit their NUMERIC columns, and dates fall in a business window.
The OpenAPI document carries the same bounds (docs/input.md lists them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast

import msgspec
from litestar import Request
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Schema

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

# Large enough for a 10,000-row import, small enough that a hostile body costs little memory.
MAX_BODY_BYTES = 10 * 1024 * 1024

# Business dates (deadlines, payment dates, membership history) fall in this window; outside
# it a date is a typo or an attack, and near year 9999 date arithmetic overflows.
FIRST_YEAR = 1950
LAST_YEAR = 2200

# Money: at most $100 billion per amount, so sums over many rows stay far below 2^63.
MAX_CENTS = 10**13
BIGINT_MAX = 2**63 - 1
# Rates fit NUMERIC(9, 6), the narrowest rate column: below 1000, at most six places.
MAX_RATE = Decimal("999.999999")
RATE_PLACES = 6
_RATE_STEP = Decimal(1).scaleb(-RATE_PLACES)

_CHECK = "coop_check"  # Meta.extra key: the check the strict decoder applies to the value
_CTRL = r"\x00-\x1f\x7f"
# No control characters (PostgreSQL refuses NUL) and at least one visible character.
# Python's `$` also matches before a final new line ("fuel\n" passed); `(?!\n)$` is the end of
# the text alone, and reads the same in the JSON Schema's (ECMA) regular expressions.
END = r"(?!\n)$"
TEXT_PATTERN = rf"^[^{_CTRL}]*[^\s{_CTRL}][^{_CTRL}]*{END}"
# The same for text that may be empty (a profile's city, postcode, country).
PLAIN_PATTERN = rf"^[^{_CTRL}]*{END}"
# Only what the database cannot take; the e-mail's form is the identity rules' to judge,
# so a bad address is listed with the other bad fields of the request.
EMAIL_PATTERN = TEXT_PATTERN
ID_PATTERN = rf"^[0-9]{{1,18}}{END}"
RATE_PATTERN = rf"^-?[0-9]{{1,3}}(\.[0-9]{{1,6}})?{END}"
# The window's years as a pattern, so generated clients and fuzzers stay inside it.
_YEAR_PATTERN = r"^(19[5-9][0-9]|2[01][0-9][0-9]|2200)-"
_TEXT_HELP = "no control characters, not blank"

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN, description=_TEXT_HELP)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=TEXT_PATTERN, description=_TEXT_HELP)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=TEXT_PATTERN, description=_TEXT_HELP)]
SkuText = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=TEXT_PATTERN, description=_TEXT_HELP)]
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=320, pattern=EMAIL_PATTERN, description="an e-mail address")
]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN, description="an id as given out by this API")]

Cents = Annotated[int, msgspec.Meta(ge=0, le=MAX_CENTS, description="integer cents")]
PositiveCents = Annotated[int, msgspec.Meta(ge=1, le=MAX_CENTS, description="integer cents, more than 0")]
SignedCents = Annotated[int, msgspec.Meta(ge=-MAX_CENTS, le=MAX_CENTS, description="integer cents (negative: a loss)")]
NonZeroCents = Annotated[
    int, msgspec.Meta(ge=-(10**13), le=10**13, description="integer cents, not 0 (negative: a correction)")
]
MemberNumber = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
FiscalYear = Annotated[
    int, msgspec.Meta(ge=FIRST_YEAR, le=LAST_YEAR, description=f"a year in {FIRST_YEAR}..{LAST_YEAR}")
]

Rate = Annotated[
    Decimal,
    msgspec.Meta(
        description=f'a decimal string of at most {RATE_PLACES} places below "{MAX_RATE}", e.g. "0.05"',
        extra_json_schema={"extra": {"pattern": RATE_PATTERN}},
        extra={_CHECK: "rate"},
    ),
]
Day = Annotated[
    date,
    msgspec.Meta(
        description=f"a date (YYYY-MM-DD) in the years {FIRST_YEAR}..{LAST_YEAR}",
        extra_json_schema={"extra": {"pattern": _YEAR_PATTERN}},
        extra={_CHECK: "day"},
    ),
]
Moment = Annotated[
    datetime,
    msgspec.Meta(
        description=f"RFC 3339 (without a zone, UTC) in the years {FIRST_YEAR}..{LAST_YEAR}",
        extra_json_schema={"extra": {"pattern": _YEAR_PATTERN}},
        extra={_CHECK: "moment"},
    ),
]


def rate_problem(value: Decimal) -> str | None:
    """Why a rate is refused: NaN, Infinity, too large or too precise for its column.

    The sign and the sensible range of each rate are the domain rules' to judge, so they
    are listed with the request's other bad fields.
    """
    if not value.is_finite():
        return "must be a finite decimal"
    if abs(value) > MAX_RATE:
        return f"must be from -{MAX_RATE} to {MAX_RATE}"
    exponent = value.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and exponent < -RATE_PLACES
        and value != value.quantize(Decimal(1).scaleb(-RATE_PLACES))
    ):
        return f"at most {RATE_PLACES} decimal places"
    return None


def year_problem(year: int) -> str | None:
    """Why a date is refused: outside the business window."""
    if FIRST_YEAR <= year <= LAST_YEAR:
        return None
    return f"the year must be in {FIRST_YEAR}..{LAST_YEAR}"


# Checks a decoded value at a path, adding {key, message} for each problem.
Check = Callable[[object, str, list[dict[str, str]]], None]


def _leaf(kind: str) -> Callable[[Any], str | None]:
    if kind == "rate":
        return rate_problem
    return lambda value: year_problem(value.year)


def _plan(info: msgspec.inspect.Type) -> Check | None:  # noqa: C901, PLR0911
    """A function that checks what msgspec cannot (rates, date windows) in a decoded value, or None."""
    if isinstance(info, msgspec.inspect.Metadata):
        kind = (info.extra or {}).get(_CHECK)
        if kind is None:
            return _plan(info.type)
        leaf = _leaf(kind)

        def check_leaf(value: object, path: str, errors: list[dict[str, str]]) -> None:
            if (problem := leaf(value)) is not None:
                errors.append({"key": path or "body", "message": problem, "source": "body"})

        return check_leaf
    if isinstance(info, msgspec.inspect.StructType):
        fields = [(f.name, f.encode_name, p) for f in info.fields if (p := _plan(f.type)) is not None]
        if not fields:
            return None

        def check_struct(value: object, path: str, errors: list[dict[str, str]]) -> None:
            for name, key, check in fields:
                check(getattr(value, name), f"{path}.{key}" if path else key, errors)

        return check_struct
    if isinstance(info, (msgspec.inspect.ListType, msgspec.inspect.VarTupleType)):
        item = _plan(info.item_type)
        if item is None:
            return None

        def check_items(value: object, path: str, errors: list[dict[str, str]]) -> None:
            for i, element in enumerate(cast("list[object]", value)):
                item(element, f"{path}[{i}]", errors)

        return check_items
    if isinstance(info, msgspec.inspect.UnionType):
        arms = [p for t in info.types if not isinstance(t, msgspec.inspect.NoneType) and (p := _plan(t)) is not None]
        if len(arms) != 1:
            return None
        arm = arms[0]

        def check_optional(value: object, path: str, errors: list[dict[str, str]]) -> None:
            if value is not None:
                arm(value, path, errors)

        return check_optional
    return None


_PLANS: dict[Any, Check | None] = {}


def _plan_for(target: object) -> Check | None:
    if target not in _PLANS:
        _PLANS[target] = _plan(msgspec.inspect.type_info(target))
    return _PLANS[target]


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen = dict(pairs)
    if len(seen) == len(pairs):
        return seen
    keys: set[str] = set()
    for key, _ in pairs:  # a key came twice: the first repeat is named
        if key in keys:
            break
        keys.add(key)
    raise _DuplicateKeyError(key)


# One decoder for every body: json.loads(..., object_pairs_hook=...) built one per call.
_PAIRS_DECODER = json.JSONDecoder(object_pairs_hook=_refuse_duplicates)


def _refused(key: str, message: str) -> ValidationException:
    return ValidationException("the request is not valid; see errors", extra=[{"key": key, "message": message}])


# What a pattern means, in place of msgspec's "Expected `str` matching regex '...'".
_PATTERN_MEANS = {
    TEXT_PATTERN: "must not be blank or contain control characters (NUL, tab, new line, ...)",
    ID_PATTERN: "not an id this API gave out",
}


def _path_of(error: msgspec.ValidationError) -> tuple[str, str]:
    """Msgspec says `Expected int, got str - at $.lines[0].quantity`: the field and the message."""
    message, _, where = str(error).partition(" - at `$")
    for pattern, meaning in _PATTERN_MEANS.items():
        if message.endswith(f"matching regex {pattern!r}"):
            message = meaning
    return where.rstrip("`").lstrip(".") or "body", message


def decode_body(body: bytes, target: Any) -> Any:  # noqa: ANN401 - whatever type the route takes
    """The body decoded strictly into the route's type: no coercion from strings or floats.

    Refused with a 400 naming the field: invalid JSON, nesting too deep, a key given twice
    (which value would win is a guess), a value of the wrong type or out of bounds.
    """
    try:
        value = msgspec.json.decode(body or b"null", type=target, strict=True)
        # msgspec took it, so it is UTF-8 (json.loads's own choice for such bytes, surrogates let through).
        _PAIRS_DECODER.decode((body or b"null").decode("utf-8", "surrogatepass"))
    except RecursionError:
        raise _refused("body", "the JSON is nested too deeply") from None
    except _DuplicateKeyError as exc:
        raise _refused(exc.key, "given more than once") from None
    except msgspec.ValidationError as exc:
        raise _refused(*_path_of(exc)) from None
    except (msgspec.DecodeError, ValueError) as exc:
        raise _refused("body", f"not valid JSON: {exc}") from None
    if (check := _plan_for(target)) is not None:
        errors: list[dict[str, str]] = []
        check(value, "", errors)
        if errors:
            raise ValidationException("the request is not valid; see errors", extra=errors)
    return value


class StrictRequest(Request[Any, Any, Any]):
    """Decodes a JSON body straight into the route's `data` type, strictly (see `decode_body`)."""

    async def json(self) -> Any:  # noqa: ANN401 - as Request.json()
        """The decoded body: the route's data type when it has one, else plain JSON values."""
        cached = self.scope.get("coop_json", _MISSING)
        if cached is not _MISSING:
            return cached
        field: FieldDefinition | None = self.route_handler.parsed_data_field
        value = decode_body(await self.body(), Any if field is None else field.annotation)
        self.scope["coop_json"] = value  # type: ignore[typeddict-unknown-key]
        return value


_MISSING = object()


# The bounds of a constrained msgspec type, as the Schema attributes that state them.
_BOUNDS = {
    "min_length": "min_length",
    "max_length": "max_length",
    "pattern": "pattern",
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusive_minimum",
    "lt": "exclusive_maximum",
}


def _bounds_of(info: msgspec.inspect.Type) -> dict[str, Any]:
    """The Schema attributes (snake_case) stating a type's constraints: pattern, length, range, description."""
    bounds: dict[str, Any] = {}
    if isinstance(info, msgspec.inspect.Metadata):
        extra = dict(info.extra_json_schema or {})
        bounds.update(extra.pop("extra", {}))  # what Litestar's own fields take as schema extras (a Rate's pattern)
        bounds.update(extra)
        info = info.type
    for constraint, attribute in _BOUNDS.items():
        if (value := getattr(info, constraint, None)) is not None:
            bounds[attribute] = value
    return bounds


def _unwrap(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """The type of a field, its `| None` taken off."""
    if isinstance(info, msgspec.inspect.UnionType):
        arms = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(arms) == 1:
            return arms[0]
    return info


_LISTS = (msgspec.inspect.ListType, msgspec.inspect.VarTupleType)


def _state_dropped_bounds(struct: type, schema: Schema) -> None:
    """Bounds Litestar leaves out of a struct's schema, stated as the decoder applies them.

    It drops the constraints of a list's items (`list[Id]`: no pattern) and a bound of 0 (it
    copies only truthy ones: `Cents | None` lost its minimum).
    """
    info = msgspec.inspect.type_info(struct)
    if not isinstance(info, msgspec.inspect.StructType):
        return
    aliases = type(schema).field_aliases()
    for field in info.fields:
        prop = (schema.properties or {}).get(field.encode_name)
        if not isinstance(prop, Schema):  # a $ref to another struct
            continue
        kind = _unwrap(field.type)
        inner = kind.type if isinstance(kind, msgspec.inspect.Metadata) else kind
        if isinstance(inner, _LISTS):
            arrays = [prop, *(prop.one_of or [])]
            targets = [a.items for a in arrays if isinstance(a, Schema) and isinstance(a.items, Schema)]
            bounds = _bounds_of(inner.item_type)
        else:
            targets, bounds = [prop], _bounds_of(kind)
        for target in targets:
            for key, value in bounds.items():
                attribute = aliases.get(key, key)
                if getattr(target, attribute, None) is None:
                    setattr(target, attribute, value)


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """Request bodies refuse unknown fields (forbid_unknown_fields); their schemas say so.

    The items of list fields carry their bounds too (an id's pattern, a member number's range).
    """

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        """The struct's schema, closed to other properties when the struct is."""
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        _state_dropped_bounds(field_definition.type_, schema)
        return schema
