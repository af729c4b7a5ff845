"""Request bodies are decoded strictly: a key given twice is refused, named (api/fields.py)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.exceptions import ValidationException

from api.fields import decode_body


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    product_id: str
    quantity: int


class _Order(msgspec.Struct, forbid_unknown_fields=True):
    lines: list[_Line]


def _refused_key(body: bytes, target: Any) -> str | None:
    try:
        decode_body(body, target)
    except ValidationException as exc:
        return str(exc.extra[0]["key"])  # type: ignore[index]
    return None


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"lines": [], "lines": [{"product_id": "1", "quantity": 2}]}', "lines"),
        (b'{"lines": [{"product_id": "1", "quantity": 2, "quantity": 3}]}', "quantity"),
        (
            b'{"lines": [{"product_id": "1", "quantity": 2}, {"product_id": "2", "product_id": "3", "quantity": 1}]}',
            "product_id",
        ),
    ],
)
def test_a_key_given_twice_is_refused_by_its_name(body: bytes, key: str) -> None:
    assert _refused_key(body, _Order) == key
    assert _refused_key(body, Any) == key


def test_a_body_with_each_key_once_decodes() -> None:
    body = b'{"lines": [{"product_id": "1", "quantity": 2}, {"product_id": "2", "quantity": 1}]}'
    assert decode_body(body, _Order) == _Order([_Line("1", 2), _Line("2", 1)])


_KEYS = st.sampled_from(["a", "b", "c", "\u00e9"])
_JSON = st.recursive(
    st.none() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.lists(st.tuples(_KEYS, inner), max_size=4),
    max_leaves=12,
)


def _render(value: object) -> str:
    # Pairs are rendered as an object with their keys as given, duplicates included.
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return "{" + ", ".join(f"{json.dumps(k)}: {_render(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return json.dumps(value)


def _first_repeated_key(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise KeyError(key)
        seen[key] = value
    return seen


@given(_JSON)
def test_the_duplicate_check_refuses_exactly_the_first_key_repeated_within_an_object(value: object) -> None:
    text = _render(value)
    try:
        json.loads(text, object_pairs_hook=_first_repeated_key)
        expected = None
    except KeyError as exc:
        expected = exc.args[0]
    assert _refused_key(text.encode(), Any) == expected
