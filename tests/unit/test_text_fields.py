"""Text fields end where the text ends: Python's `$` also matched before a final new line."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from api.fields import END, Email, Id, LongText, ShortText, SkuText, Text

FundName = Annotated[str, msgspec.Meta(pattern=rf"^[a-z0-9_]+{END}")]  # as api/routes/allocation.py names a fund


def _decodes(value: str, target: Any) -> bool:
    try:
        msgspec.json.decode(msgspec.json.encode(value), type=target)
    except msgspec.ValidationError:
        return False
    return True


@pytest.mark.parametrize(("value", "target"), [("Acme", Text), ("12", Id), ("a@b.co", Email), ("reserve", FundName)])
def test_a_field_is_taken_as_it_is(value: str, target: Any) -> None:
    assert _decodes(value, target)


@pytest.mark.parametrize("target", [Text, LongText, ShortText, SkuText, Email, Id, FundName])
@pytest.mark.parametrize("tail", ["\n", "\r\n", "\n\n"])
def test_a_trailing_new_line_is_refused(target: Any, tail: str) -> None:
    value = "12" if target is Id else "reserve"
    assert not _decodes(value + tail, target)
