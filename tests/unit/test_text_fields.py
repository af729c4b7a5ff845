"""Text fields end where the text ends: Python's `$` also matched before a final new line."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from api.fields import Email, Id, LongText, ShortText, SkuText, Text
from api.routes.allocation import FundIn
from api.routes.directory import ProfileIn


def _decodes(value: Any, target: Any) -> bool:
    try:
        msgspec.json.decode(msgspec.json.encode(value), type=target)
    except msgspec.ValidationError:
        return False
    return True


def _fund(name: str) -> dict[str, object]:
    return {"name": name, "rate": "0.1", "indivisible": False}


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("Acme", Text),
        ("12", Id),
        ("a@b.co", Email),
        (_fund("reserve"), FundIn),
        ({"listed": False, "city": "Lyon"}, ProfileIn),
    ],
)
def test_a_field_is_taken_as_it_is(value: Any, target: Any) -> None:
    assert _decodes(value, target)


@pytest.mark.parametrize("target", [Text, LongText, ShortText, SkuText, Email, Id])
@pytest.mark.parametrize("tail", ["\n", "\r\n", "\n\n"])
def test_a_trailing_new_line_is_refused(target: Any, tail: str) -> None:
    value = "12" if target is Id else "reserve"
    assert not _decodes(value + tail, target)


@pytest.mark.parametrize("field", ["city", "postcode", "country"])
def test_a_profile_place_with_a_trailing_new_line_is_refused(field: str) -> None:
    assert _decodes({"listed": False, field: ""}, ProfileIn)
    assert not _decodes({"listed": False, field: "Lyon\n"}, ProfileIn)


def test_a_fund_name_with_a_trailing_new_line_is_refused() -> None:
    assert not _decodes(_fund("reserve\n"), FundIn)
