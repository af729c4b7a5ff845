"""Unit tests for domain.money (pure, no I/O)."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.money import Money, Rounding, allocate, apply_rate, round_to_cents

if TYPE_CHECKING:
    import random

# DOMAIN.md section 3, worked example EX1 (cents).
EX1_TOTAL = 1440964
EX1_WEIGHTS = [10123456, 7777777, 5000000, 1108766, 8734]
EX1_PARTS = [607340, 466615, 299967, 66518, 524]

Weight = int | Fraction | Decimal

totals = st.integers(min_value=0, max_value=10**12)
int_weights = st.integers(min_value=0, max_value=10**9)
any_weights = st.one_of(
    int_weights,
    st.fractions(min_value=0, max_value=10**6, max_denominator=1000),
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
)
weight_lists = st.lists(any_weights, min_size=1, max_size=30)
exact_values = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.fractions(max_denominator=10**6),
    st.decimals(places=6, allow_nan=False, allow_infinity=False),
)


def reference_lrm(total: int, weights: list[Weight]) -> list[int]:
    """Transcribe DOMAIN.md section 0 literally with Fractions, as an oracle."""
    exact = [Fraction(w) for w in weights]
    weight_sum = sum(exact)
    shares = [total * w / weight_sum for w in exact]
    parts = [math.floor(s) for s in shares]
    order = sorted(range(len(exact)), key=lambda i: (-(shares[i] - parts[i]), -exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def positive_sum(weights: list[Weight]) -> bool:
    return sum(Fraction(w) for w in weights) > 0


# --- round_to_cents ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "floor", "ceil", "half_up"),
    [
        (Fraction(5, 2), 2, 3, 3),
        (Fraction(-5, 2), -3, -2, -3),
        (Fraction(7, 3), 2, 3, 2),
        (Fraction(-7, 3), -3, -2, -2),
        (Fraction(-8, 3), -3, -2, -3),
        (Decimal("2.5"), 2, 3, 3),
        (Decimal("-2.5"), -3, -2, -3),
        (Decimal("0.4999999999"), 0, 1, 0),
        (Decimal("-0.5"), -1, 0, -1),
        (Decimal(0), 0, 0, 0),
        (-4, -4, -4, -4),
        (17, 17, 17, 17),
    ],
)
def test_round_to_cents_table(value: Weight, floor: int, ceil: int, half_up: int) -> None:
    assert round_to_cents(value, Rounding.FLOOR) == floor
    assert round_to_cents(value, Rounding.CEIL) == ceil
    assert round_to_cents(value, Rounding.HALF_UP) == half_up


def test_half_up_ties_away_from_zero_for_negatives() -> None:
    assert round_to_cents(Fraction(-5, 2), Rounding.HALF_UP) == -3


@given(exact_values)
def test_rounding_properties(value: Weight) -> None:
    exact = Fraction(value)
    floor = round_to_cents(value, Rounding.FLOOR)
    ceil = round_to_cents(value, Rounding.CEIL)
    half_up = round_to_cents(value, Rounding.HALF_UP)
    assert floor <= exact <= ceil
    assert ceil - floor == (0 if exact.denominator == 1 else 1)
    assert abs(half_up - exact) <= Fraction(1, 2)
    assert round_to_cents(-exact, Rounding.HALF_UP) == -half_up
    assert round_to_cents(-exact, Rounding.CEIL) == -floor


@given(st.decimals(places=6, allow_nan=False, allow_infinity=False))
def test_rounding_matches_decimal_quantize(value: Decimal) -> None:
    with localcontext() as ctx:
        ctx.prec = 100
        for mode, decimal_mode in (
            (Rounding.FLOOR, ROUND_FLOOR),
            (Rounding.CEIL, ROUND_CEILING),
            (Rounding.HALF_UP, ROUND_HALF_UP),
        ):
            assert round_to_cents(value, mode) == int(value.quantize(Decimal(1), rounding=decimal_mode))


@pytest.mark.parametrize("value", [2.5, 0.0, True])
def test_round_to_cents_rejects_float_and_bool(value: object) -> None:
    with pytest.raises(TypeError, match="must be int, Fraction or Decimal"):
        round_to_cents(value, Rounding.FLOOR)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_round_to_cents_rejects_non_finite_decimal(value: Decimal) -> None:
    with pytest.raises(ValueError, match="must be finite"):
        round_to_cents(value, Rounding.HALF_UP)


# --- apply_rate -------------------------------------------------------------


def test_ex1_cash_minimum_uses_ceil() -> None:
    # C's cash at a 20% rate: HALF_UP pays 19.9999% and disqualifies the notice.
    assert apply_rate(299967, Decimal("0.20"), Rounding.CEIL) == 59994
    assert apply_rate(299967, Decimal("0.20"), Rounding.HALF_UP) == 59993
    assert Fraction(59993, 299967) < Fraction(1, 5) <= Fraction(59994, 299967)


def test_ex1_member_share_of_margin() -> None:
    margin = Fraction(1799800 * 24018733, 30000000)
    assert round_to_cents(margin, Rounding.HALF_UP) == EX1_TOTAL


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.fractions(max_denominator=10**4),
)
def test_apply_rate_is_exact(cents: int, rate: Fraction) -> None:
    for mode in Rounding:
        assert apply_rate(cents, rate, mode) == round_to_cents(cents * rate, mode)


def test_apply_rate_rejects_float() -> None:
    with pytest.raises(TypeError, match="rate must be"):
        apply_rate(100, 0.2, Rounding.CEIL)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cents must be int"):
        apply_rate(100.0, Decimal("0.2"), Rounding.CEIL)  # type: ignore[arg-type]


# --- allocate: examples -----------------------------------------------------


def test_ex1_allocation() -> None:
    assert allocate(EX1_TOTAL, EX1_WEIGHTS) == EX1_PARTS
    weight_sum = sum(EX1_WEIGHTS)
    per_party_half_up = [round_to_cents(Fraction(EX1_TOTAL * w, weight_sum), Rounding.HALF_UP) for w in EX1_WEIGHTS]
    assert sum(per_party_half_up) == EX1_TOTAL + 1


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        # Equal weights: earlier position wins.
        (1, [1, 1], [1, 0]),
        (1, [1, 1, 1], [1, 0, 0]),
        (2, [1, 1, 1], [1, 1, 0]),
        # Equal remainders (1/2 each): larger weight wins, wherever it sits.
        (2, [1, 3], [0, 2]),
        (2, [3, 1], [2, 0]),
        # Larger weights first, then the earliest of the smaller ones.
        (5, [3, 1, 3, 1, 1, 1], [2, 1, 2, 0, 0, 0]),
        # Residue runs out inside the larger-weight group: earlier positions win.
        (7, [1, 1, 3, 3, 3, 3], [0, 0, 2, 2, 2, 1]),
    ],
)
def test_tie_rule(total: int, weights: list[Weight], expected: list[int]) -> None:
    assert allocate(total, weights) == expected
    assert reference_lrm(total, weights) == expected


def test_zero_total_and_zero_weights() -> None:
    assert allocate(0, [3, 0, 5]) == [0, 0, 0]
    assert allocate(0, [0, 0]) == [0, 0]
    assert allocate(0, []) == []
    assert allocate(10, [0, 1, 0, 1]) == [0, 5, 0, 5]
    assert allocate(7, [0, 5]) == [0, 7]


def test_mixed_weight_types() -> None:
    weights: list[Weight] = [Decimal("0.5"), Fraction(1, 4), 0, Decimal("0.25")]
    assert allocate(100, weights) == [50, 25, 0, 25]
    assert allocate(10, [Fraction(1, 3), Fraction(1, 3), Fraction(1, 3)]) == [4, 3, 3]


def test_large_party_count() -> None:
    weights = [(i * 7919) % 100003 for i in range(100_000)]
    parts = allocate(12_345_678_901, weights)
    assert sum(parts) == 12_345_678_901
    assert parts[0] == 0


# --- allocate: errors -------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "message"),
    [
        (-1, [1, 2], "negative total"),
        (10, [1, -2], "must not be negative"),
        (0, [Decimal("-0.01")], "must not be negative"),
        (10, [0, 0], "no weights or only zero weights"),
        (10, [], "no weights or only zero weights"),
        (10, [Decimal("NaN")], "must be finite"),
    ],
)
def test_allocate_value_errors(total: int, weights: list[Weight], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        allocate(total, weights)


@pytest.mark.parametrize(
    ("total", "weights", "message"),
    [
        (10, [1, True], "not bool"),
        (10, [1.0, 2], "not float"),
        (10.0, [1, 2], "not float"),
        (True, [1, 2], "not bool"),
    ],
)
def test_allocate_type_errors(total: object, weights: list[object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        allocate(total, weights)  # type: ignore[arg-type]


# --- allocate: properties ---------------------------------------------------


@given(totals, weight_lists)
def test_allocate_properties(total: int, weights: list[Weight]) -> None:
    assume(positive_sum(weights))
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    weight_sum = sum(Fraction(w) for w in weights)
    for part, weight in zip(parts, weights, strict=True):
        share = total * Fraction(weight) / weight_sum
        assert math.floor(share) <= part <= math.floor(share) + 1
        if share.denominator == 1:
            assert part == share
        if weight == 0:
            assert part == 0
    assert allocate(total, weights) == parts
    assert parts == reference_lrm(total, weights)


@given(totals, weight_lists, st.integers(min_value=1, max_value=10**6))
def test_allocate_scale_invariant(total: int, weights: list[Weight], factor: int) -> None:
    assume(positive_sum(weights))
    assert allocate(total, [w * factor for w in weights]) == allocate(total, weights)


@given(
    totals,
    st.lists(int_weights, min_size=1, max_size=30),
    st.randoms(use_true_random=False),
)
def test_allocate_permutation_without_ties(total: int, weights: list[int], rnd: random.Random) -> None:
    assume(sum(weights) > 0)
    # Without remainder ties the position tie-break never fires: order is irrelevant.
    remainders = [total * w % sum(weights) for w in weights if total * w % sum(weights)]
    assume(len(set(remainders)) == len(remainders))
    order = list(range(len(weights)))
    rnd.shuffle(order)
    shuffled = allocate(total, [weights[i] for i in order])
    parts = allocate(total, weights)
    assert [parts[i] for i in order] == shuffled


@given(totals, st.lists(int_weights, min_size=1, max_size=30))
def test_parts_never_negative(total: int, weights: list[int]) -> None:
    assume(sum(weights) > 0)
    assert all(part >= 0 for part in allocate(total, weights))


# --- Money ------------------------------------------------------------------


def test_money_arithmetic() -> None:
    a = Money(1050)
    b = Money(-25)
    assert a + b == Money(1025, "USD")
    assert a - b == Money(1075)
    assert -a == Money(-1050)
    assert Money.zero() == Money(0, "USD")
    assert Money.zero("EUR") + Money(5, "EUR") == Money(5, "EUR")


def test_money_currency_mismatch() -> None:
    with pytest.raises(ValueError, match="cannot combine USD with EUR"):
        _ = Money(1) + Money(1, "EUR")
    with pytest.raises(ValueError, match="cannot combine USD with EUR"):
        _ = Money(1) - Money(1, "EUR")


def test_money_refuses_other_operands() -> None:
    with pytest.raises(TypeError):
        _ = Money(1) + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = Money(1) - 1  # type: ignore[operator]


@pytest.mark.parametrize("cents", [1.5, True, Decimal(1)])
def test_money_rejects_non_int_cents(cents: object) -> None:
    with pytest.raises(TypeError, match="cents must be int"):
        Money(cents)  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", "", "U$D"])
def test_money_rejects_bad_currency(currency: str) -> None:
    with pytest.raises(ValueError, match="currency must be three"):
        Money(1, currency)


def test_money_is_frozen() -> None:
    money = Money(1)
    with pytest.raises(AttributeError):
        money.cents = 2  # type: ignore[misc]


def test_money_times_and_allocate() -> None:
    allocation = Money(299967, "EUR")
    assert allocation.times(Decimal("0.20"), Rounding.CEIL) == Money(59994, "EUR")
    assert allocation.times(Decimal("0.20"), Rounding.HALF_UP) == Money(59993, "EUR")
    assert Money(EX1_TOTAL).allocate(EX1_WEIGHTS) == [Money(p) for p in EX1_PARTS]


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12), st.sampled_from(["EUR", "CHF", "JPY"]))
def test_every_money_operation_keeps_its_currency(a: int, b: int, currency: str) -> None:
    x, y = Money(a, currency), Money(b, currency)
    assert (x + y).currency == currency
    assert (x - y) == Money(a - b, currency)
    assert -x == Money(-a, currency)
    assert x.times(Decimal("0.5"), Rounding.FLOOR).currency == currency
    if a >= 0:
        parts = x.allocate([1, 2, 3])
        assert {p.currency for p in parts} == {currency}
        assert sum(p.cents for p in parts) == a


A_FLOAT: Any = 1.5


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: allocate(A_FLOAT, [1]), TypeError, "total must be int cents, not float"),
        (lambda: allocate(10, [A_FLOAT]), TypeError, "weight must be int, Fraction or Decimal, not float"),
        (lambda: allocate(10, [Decimal(-1)]), ValueError, "weights must not be negative"),
        (
            lambda: allocate(10, [0]),
            ValueError,
            "cannot allocate a positive total over no weights or only zero weights",
        ),
        (
            lambda: round_to_cents(A_FLOAT, Rounding.FLOOR),
            TypeError,
            "value must be int, Fraction or Decimal, not float",
        ),
    ],
)
def test_error_messages_name_the_argument_exactly(call, error, message) -> None:
    with pytest.raises(error) as raised:
        call()
    assert str(raised.value) == message
