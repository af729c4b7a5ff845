"""What staff read when the catalog refuses a pool, a markup or a product's price tiers.

Every (field, message) pair is the problem+json a client shows, so they are pinned exactly:
a refusal that names the wrong field or says nothing is a defect a person has to debug by
hand. A bool is never a count of units or cents, though Python calls it an int.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalog.rules import (
    PRODUCT_RETIRED,
    Tier,
    markup_errors,
    no_dearer,
    pool_errors,
    price_change_refusal,
    rate_text,
    tier_errors,
    tier_for,
)
from domain.errors import ConflictError

if TYPE_CHECKING:
    from domain.errors import FieldError

POOL_MESSAGE = "must be 1-50 lower-case letters, digits or _, starting with a letter"


def _pairs(errors: list[FieldError]) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in errors]


# --- pools --------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["purchases", "fuel", "a", "p2_services", "a" + "b" * 49])
def test_a_short_lower_case_pool_is_taken(pool: str) -> None:
    assert pool_errors(pool) == []


@pytest.mark.parametrize(
    "pool", ["", "Purchases", "2fuel", "_fuel", "fuel-oil", "fuel oil", "a" + "b" * 50, "fuel\n", "\nfuel"]
)
def test_any_other_pool_is_refused_naming_the_field(pool: str) -> None:
    assert _pairs(pool_errors(pool)) == [("pool", POOL_MESSAGE)]
    assert _pairs(pool_errors(pool, "records[3].pool")) == [("records[3].pool", POOL_MESSAGE)]


# --- markups ------------------------------------------------------------------------


@pytest.mark.parametrize("rate", ["0", "-0", "0.05", "0.123456", "0.1000000", "10", "10.000000", "1E+1"])
def test_a_markup_from_0_to_10_with_6_places_is_taken(rate: str) -> None:
    assert markup_errors(Decimal(rate)) == []


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        ("NaN", "must be a finite decimal"),
        ("sNaN", "must be a finite decimal"),
        ("Infinity", "must be a finite decimal"),
        ("-Infinity", "must be a finite decimal"),
        ("-0.000001", "must be between 0 and 10"),
        ("10.000001", "must be between 0 and 10"),
        ("11", "must be between 0 and 10"),
        ("0.1234567", "must have at most 6 decimal places"),
        ("1E-7", "must have at most 6 decimal places"),
    ],
)
def test_a_markup_out_of_bounds_is_refused_naming_the_field(rate: str, message: str) -> None:
    assert _pairs(markup_errors(Decimal(rate))) == [("markup_rate", message)]
    assert _pairs(markup_errors(Decimal(rate), "products[0].markup_rate")) == [("products[0].markup_rate", message)]


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        ("0.050000", "0.05"),
        ("0.000000", "0"),
        ("-0", "0"),
        ("-0.000", "0"),
        ("10", "10"),
        ("1E+1", "10"),
        ("1.500000", "1.5"),
        ("0.000001", "0.000001"),
        ("-0.25", "-0.25"),
    ],
)
def test_a_rate_reads_as_a_plain_decimal(rate: str, text: str) -> None:
    assert rate_text(Decimal(rate)) == text


# --- tiers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tiers", "pairs"),
    [
        ([Tier(2, 100)], [("tiers[0].min_quantity", "the first tier must start at 1")]),
        (
            [Tier(1, 100), Tier(1, 90)],
            [("tiers[1].min_quantity", "must be greater than the previous tier's min_quantity")],
        ),
        ([Tier(1, -1)], [("tiers[0].unit_price_cents", "must not be negative")]),
        ([Tier(1, 100), Tier(5, 101)], [("tiers[1].unit_price_cents", "must not exceed the previous tier's price")]),
        ([Tier(1.0, 100)], [("tiers[0].min_quantity", "must be an integer")]),  # type: ignore[arg-type]
        ([Tier(True, 100)], [("tiers[0].min_quantity", "must be an integer")]),
        ([Tier(1, 99.5)], [("tiers[0].unit_price_cents", "must be an integer")]),  # type: ignore[arg-type]
        ([Tier(1, False)], [("tiers[0].unit_price_cents", "must be an integer")]),
        (
            [Tier(1, 100), Tier("5", "90")],  # type: ignore[arg-type]
            [("tiers[1].min_quantity", "must be an integer"), ("tiers[1].unit_price_cents", "must be an integer")],
        ),
    ],
)
def test_tier_refusals_name_the_field_and_the_rule(tiers: list[Tier], pairs: list[tuple[str, str]]) -> None:
    assert _pairs(tier_errors(tiers)) == pairs


def test_an_invalid_tier_list_is_a_bug_naming_every_fault() -> None:
    message = (
        "invalid price tiers: tiers[0].min_quantity: the first tier must start at 1; "
        "tiers[1].min_quantity: must be greater than the previous tier's min_quantity; "
        "tiers[1].unit_price_cents: must not exceed the previous tier's price"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tier_for([Tier(2, 100), Tier(2, 120)], 3)


@pytest.mark.parametrize("quantity", [-1, True, 2.0, "3"])
def test_a_tier_is_found_only_for_a_count_of_units(quantity: Any) -> None:
    message = f"quantity must be a non-negative int, got {quantity!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tier_for([Tier(1, 100)], quantity)


# --- price changes ------------------------------------------------------------------

tiers_strategy = st.lists(st.integers(0, 10_000), min_size=1, max_size=4).map(
    lambda prices: [Tier(1 + 5 * i, p) for i, p in enumerate(sorted(prices, reverse=True))]
)
markups = st.decimals(min_value=0, max_value=2, places=2)


@given(tiers_strategy, markups)
def test_unchanged_prices_and_markup_are_no_dearer(tiers: list[Tier], markup: Decimal) -> None:
    assert no_dearer(tiers, markup, tiers, markup)


def test_the_member_price_compares_markup_on_both_sides() -> None:
    old = [Tier(1, 1_000)]  # members pay 1,500 at a 50 % markup
    assert no_dearer(old, Decimal("0.5"), [Tier(1, 1_000)], Decimal("0.4"))  # 1,400
    assert no_dearer(old, Decimal("0.5"), [Tier(1, 900)], Decimal("0.6"))  # 1,440
    assert not no_dearer(old, Decimal("0.5"), [Tier(1, 900)], Decimal("0.7"))  # 1,530


# --- retired products ---------------------------------------------------------------


def test_a_retired_product_s_prices_are_refused_with_a_code_and_an_offered_one_s_are_not() -> None:
    assert price_change_refusal(None) is None
    refusal = price_change_refusal(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert refusal is not None
    assert (type(refusal), refusal.code) == (ConflictError, PRODUCT_RETIRED)
    assert refusal.detail == "the product was retired at 2026-03-01T12:00:00+00:00: its prices no longer change"
