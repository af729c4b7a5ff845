"""Unit tests for domain.buying.rules (pure, no I/O)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.buying.rules import (
    AllocationPolicy,
    CloseAction,
    Decision,
    Delivered,
    Demand,
    Increment,
    LineRequest,
    MinimumOutcome,
    NextTier,
    ProductDemand,
    Progress,
    allocate_units,
    apply_change,
    cases_to_order,
    close_decision,
    closed_line,
    line_total_cents,
    max_order_total_cents,
    missing_units,
    order_line_errors,
    plan_close,
    plan_delivery,
    product_progress,
    reallocate_delivery,
    unit_cost_millionths,
)
from domain.catalog import rules as catalog_rules
from domain.catalog.rules import Tier, next_tier, tier_and_next, tier_errors, tier_for
from domain.errors import FieldError
from domain.money import BIGINT_MAX, Rounding, round_to_cents

PRO, FIRST = AllocationPolicy.PRO_RATA, AllocationPolicy.FIRST_COME
POLICIES = st.sampled_from(list(AllocationPolicy))


def demand(key: int, *increments: tuple[int, int, int]) -> Demand:
    """A demand from ``(at_seq, quantity, flex)`` triples."""
    return Demand.from_increments(key, [Increment(*i) for i in increments])


# --- strategies --------------------------------------------------------------------


@st.composite
def demand_lists(draw, max_members=6):
    """Members with time-ordered increments, sorted by first order time (ties possible)."""
    n = draw(st.integers(0, max_members))
    if n == 0:
        return []
    events = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, 12), st.integers(0, 12), st.integers(0, 15)),
            max_size=25,
        )
    )
    by_member: dict[int, dict[int, list[int]]] = defaultdict(dict)
    for member, q, f, seq in events:
        slot = by_member[member].setdefault(seq, [0, 0])
        slot[0] += q
        slot[1] += f
    keys = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    demands = [
        Demand.from_increments(keys[m], [Increment(seq, q, f) for seq, (q, f) in sorted(by_member[m].items())])
        for m in range(n)
    ]
    # Callers pass members by first order time; members without increments go last.
    return sorted(demands, key=lambda d: d.increments[0].at_seq if d.increments else 10**9)


@st.composite
def valid_tiers(draw):
    n = draw(st.integers(1, 5))
    gaps = draw(st.lists(st.integers(1, 20), min_size=n - 1, max_size=n - 1))
    cuts = draw(st.lists(st.integers(0, 200), min_size=n - 1, max_size=n - 1))
    first_price = draw(st.integers(sum(cuts), sum(cuts) + 5_000))
    tiers = [Tier(1, first_price)]
    for gap, cut in zip(gaps, cuts, strict=True):
        tiers.append(Tier(tiers[-1].min_quantity + gap, tiers[-1].unit_price_cents - cut))
    return tiers


@st.composite
def demands_and_bought(draw):
    demands = draw(demand_lists())
    q = sum(d.quantity for d in demands)
    f = sum(d.flex for d in demands)
    if draw(st.booleans()):
        size = draw(st.integers(1, 12))
        bought = cases_to_order(q, f, size) * size
    else:
        bought = draw(st.integers(0, q + f))
    return demands, bought


# --- cases -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "flex", "size", "cases", "missing"),
    [
        (10, 1, 6, 1, 1),  # Foodsoft: r = 4, 4 + 1 < 6 -> the second case stays open
        (10, 2, 6, 2, 0),  # flex completes the second case
        (12, 0, 6, 2, 0),  # two full cases, nothing open
        (0, 9, 6, 0, 0),  # flex alone never opens a case
        (1, 0, 1, 1, 0),  # sold by unit
        (5, 0, 6, 0, 1),
    ],
)
def test_foodsoft_cases(quantity, flex, size, cases, missing):
    assert cases_to_order(quantity, flex, size) == cases
    assert missing_units(quantity, flex, size) == missing


@pytest.mark.parametrize(("q", "f", "s"), [(-1, 0, 6), (0, -1, 6), (1, 1, 0)])
def test_case_arguments_are_checked(q, f, s):
    with pytest.raises(ValueError, match=r"negative|at least 1"):
        cases_to_order(q, f, s)


@given(st.integers(0, 200), st.integers(0, 50), st.integers(1, 24))
def test_case_rule_properties(q, f, s):
    cases = cases_to_order(q, f, s)
    bought = cases * s
    assert q // s <= cases <= q // s + 1
    assert bought <= q + f  # flex can only complete a case
    m = missing_units(q, f, s)
    if m:
        # Exactly m more units of quantity or flex complete the open case.
        assert cases_to_order(q, f + m, s) == cases + 1
        assert cases_to_order(q + m, f, s) == cases + 1
        assert cases_to_order(q, f + m - 1, s) == cases


# --- tiers -------------------------------------------------------------------------


def test_tier_errors_name_the_fields():
    assert tier_errors([]) == [FieldError("tiers", "at least one price tier is required")]
    errors = tier_errors([Tier(2, 100), Tier(2, 120), Tier(5, -1)])
    assert [e.field for e in errors] == [
        "tiers[0].min_quantity",
        "tiers[1].min_quantity",
        "tiers[1].unit_price_cents",
        "tiers[2].unit_price_cents",
    ]
    assert tier_errors([Tier(1, 100), Tier(10, 100), Tier(20, 90)]) == []


def test_tier_for_and_next_tier():
    tiers = [Tier(1, 1000), Tier(10, 900), Tier(20, 900), Tier(24, 800)]
    assert tier_for(tiers, 0) == Tier(1, 1000)
    assert tier_for(tiers, 9) == Tier(1, 1000)
    assert tier_for(tiers, 10) == Tier(10, 900)
    assert tier_for(tiers, 500) == Tier(24, 800)
    assert next_tier(tiers, 0) == (Tier(10, 900), 10)
    assert next_tier(tiers, 12) == (Tier(24, 800), 12)  # the same-price tier at 20 is skipped
    assert next_tier(tiers, 24) is None
    with pytest.raises(ValueError, match="invalid price tiers"):
        tier_for([Tier(2, 100)], 3)


@given(valid_tiers(), st.integers(0, 150), st.integers(0, 150))
def test_tier_prices_never_rise_with_quantity(tiers, q, more):
    assert tier_errors(tiers) == []
    assert tier_for(tiers, q + more).unit_price_cents <= tier_for(tiers, q).unit_price_cents
    upcoming = next_tier(tiers, q)
    if upcoming is None:
        assert tier_for(tiers, q).unit_price_cents == tiers[-1].unit_price_cents
    else:
        tier, needed = upcoming
        assert needed > 0
        assert tier_for(tiers, q + needed) == tier
        assert tier.unit_price_cents < tier_for(tiers, q + needed - 1).unit_price_cents


@given(valid_tiers(), st.integers(0, 150))
def test_tier_and_next_is_tier_for_and_next_tier(tiers, q):
    assert tier_and_next(tiers, q) == (tier_for(tiers, q), next_tier(tiers, q))


def test_live_progress_checks_the_tiers_once_and_still_refuses_invalid_ones(monkeypatch):
    # The live read asks the tier and the next one for every product: the tiers' checks ran twice.
    checked = []

    def counted(tiers):
        checked.append(tiers)
        return []

    monkeypatch.setattr(catalog_rules, "tier_errors", counted)
    progress = product_progress(30, 0, 12, [Tier(1, 1000), Tier(36, 900)])
    assert (progress.unit_price_cents, progress.next_tier) == (1000, NextTier(36, 900, 6))
    assert len(checked) == 1
    monkeypatch.undo()
    with pytest.raises(ValueError, match="invalid price tiers"):
        product_progress(30, 0, 12, [Tier(2, 100)])


# --- allocation: worked examples ----------------------------------------------------


def test_pro_rata_ties_go_to_the_earlier_order():
    demands = [demand(7, (1, 3, 0)), demand(3, (2, 3, 0)), demand(5, (3, 3, 0))]
    # 5 units over 3 x 3: each 5/3; the two spare units go to the first two orders.
    assert allocate_units(demands, 5, PRO) == {7: 2, 3: 2, 5: 1}


def test_pro_rata_remainder_ties_go_to_the_larger_weight_first():
    demands = [demand(1, (1, 1, 0)), demand(2, (2, 3, 0))]
    # A = 2 over weights 1 and 3: shares 0.5 and 1.5, equal remainders; the larger weight wins.
    assert allocate_units(demands, 2, PRO) == {1: 0, 2: 2}


def test_first_come_walks_increments_oldest_first():
    # Case of 6. a orders 2, b orders 5, then a adds 3: Q = 10, one case (A = 6).
    demands = [demand(1, (1, 2, 0), (3, 3, 0)), demand(2, (2, 5, 0))]
    assert cases_to_order(10, 0, 6) == 1
    assert allocate_units(demands, 6, FIRST) == {1: 2, 2: 4}
    assert allocate_units(demands, 6, PRO) == {1: 3, 2: 3}


def test_flex_completes_a_case_and_is_shared_by_policy():
    # Case of 6; firm 4 + 4 = 8, flex 3 + 3: r = 2, 2 + 6 >= 6, so 2 cases, A = 12, E = 4.
    demands = [demand(1, (1, 4, 3)), demand(2, (2, 4, 3))]
    assert cases_to_order(8, 6, 6) == 2
    assert allocate_units(demands, 12, PRO) == {1: 6, 2: 6}
    assert allocate_units(demands, 12, FIRST) == {1: 7, 2: 5}


def test_first_come_flex_uses_flex_increment_times():
    # Member 1 ordered first but added flex last; member 2's flex is older.
    demands = [demand(1, (1, 5, 0), (4, 0, 4)), demand(2, (2, 5, 0), (3, 0, 4))]
    assert allocate_units(demands, 12, FIRST) == {1: 5, 2: 7}


def test_the_group_reaches_a_tier_no_member_reaches_alone():
    tiers = [Tier(1, 1000), Tier(12, 900), Tier(24, 800)]
    size = 6
    members = [demand(1, (1, 8, 0)), demand(2, (2, 9, 2)), demand(3, (3, 5, 1))]
    for d in members:  # alone, each buys at most one case at the dearest price
        alone = cases_to_order(d.quantity, d.flex, size) * size
        assert tier_for(tiers, alone).unit_price_cents == 1000
    q, f = sum(d.quantity for d in members), sum(d.flex for d in members)
    bought = cases_to_order(q, f, size) * size  # Q = 22, F = 3: r = 4, 4 + 3 >= 6
    assert bought == 24
    price = tier_for(tiers, bought).unit_price_cents
    assert price == 800
    allocation = allocate_units(members, bought, PRO)  # E = 2 over flex 2 and 1
    assert allocation == {1: 8, 2: 10, 3: 6}
    charges = {k: line_total_cents(units, price, Decimal("0.05")) for k, units in allocation.items()}
    assert charges == {1: 6720, 2: 8400, 3: 5040}


def test_bought_beyond_quantity_plus_flex_is_refused():
    with pytest.raises(ValueError, match="exceeds"):
        allocate_units([demand(1, (1, 2, 1))], 4, PRO)
    with pytest.raises(ValueError, match="only once"):
        allocate_units([demand(1, (1, 2, 0)), demand(1, (2, 2, 0))], 1, PRO)


def test_demand_totals_must_match_increments():
    with pytest.raises(ValueError, match="add up"):
        Demand(1, 3, 0, (Increment(1, 2),))
    with pytest.raises(ValueError, match="increasing"):
        Demand.from_increments(1, [Increment(2, 1), Increment(2, 1)])
    assert allocate_units([], 0, PRO) == {}
    assert allocate_units([Demand(1, 0, 0, ())], 0, FIRST) == {1: 0}


# --- allocation: properties -------------------------------------------------------


@given(demands_and_bought(), POLICIES)
def test_allocation_invariants(case, policy):
    demands, bought = case
    result = allocate_units(demands, bought, policy)
    assert list(result) == [d.member_key for d in demands]
    assert sum(result.values()) == bought
    firm = sum(d.quantity for d in demands)
    for d in demands:
        got = result[d.member_key]
        assert 0 <= got <= d.quantity + d.flex
        if bought >= firm:
            assert got >= d.quantity  # firm before flex
        if bought <= firm:
            assert got <= d.quantity  # nobody gets flex while firm quantity is cut
    assert allocate_units(list(demands), bought, policy) == result  # same input, same output


@given(demands_and_bought())
def test_pro_rata_parts_are_within_one_unit_of_the_exact_share(case):
    demands, bought = case
    result = allocate_units(demands, bought, PRO)
    firm = sum(d.quantity for d in demands)
    flex = sum(d.flex for d in demands)
    for d in demands:
        if bought <= firm:
            exact = Fraction(bought * d.quantity, firm) if firm else Fraction(0)
        else:
            exact = d.quantity + Fraction((bought - firm) * d.flex, flex)
        assert abs(result[d.member_key] - exact) < 1


@given(demands_and_bought())
def test_first_come_serves_increments_in_time_order(case):
    demands, bought = case
    result = allocate_units(demands, bought, FIRST)
    firm = sum(d.quantity for d in demands)
    field = "quantity" if bought <= firm else "flex"
    need = bought if bought <= firm else bought - firm
    # Reference walk: (at_seq, position) order, each slot takes what is left.
    slots = sorted((i.at_seq, pos, getattr(i, field)) for pos, d in enumerate(demands) for i in d.increments)
    expected = [0] * len(demands)
    for _, pos, units in slots:
        taken = min(units, need)
        expected[pos] += taken
        need -= taken
    base = [0 if bought <= firm else d.quantity for d in demands]
    assert [result[d.member_key] for d in demands] == [b + e for b, e in zip(base, expected, strict=True)]


# --- delivery shortages -------------------------------------------------------------


def test_pro_rata_shortage_example():
    # LRM(9, [6, 4, 2]) = 4.5, 3, 1.5: the tied half goes to the larger allocation.
    assert reallocate_delivery({1: 6, 2: 4, 3: 2}, 9, PRO) == {1: 5, 2: 3, 3: 1}


def test_first_come_shortage_example():
    assert reallocate_delivery({1: 6, 2: 4, 3: 2}, 9, FIRST) == {1: 6, 2: 3, 3: 0}
    # With increments the shortage falls on the newest flex, then the newest firm units.
    incs = {1: [Increment(1, 4, 0), Increment(5, 0, 2)], 2: [Increment(2, 4, 2)]}
    allocated = {1: 6, 2: 6}
    assert reallocate_delivery(allocated, 11, FIRST, incs) == {1: 5, 2: 6}
    assert reallocate_delivery(allocated, 9, FIRST, incs) == {1: 4, 2: 5}
    assert reallocate_delivery(allocated, 5, FIRST, incs) == {1: 4, 2: 1}


def test_delivery_bounds_are_checked():
    with pytest.raises(ValueError, match="exceeds"):
        reallocate_delivery({1: 2}, 3, PRO)
    with pytest.raises(ValueError, match="negative"):
        reallocate_delivery({1: 2}, -1, PRO)
    with pytest.raises(ValueError, match="increments"):
        reallocate_delivery({1: 2}, 1, FIRST, {1: [Increment(1, 1)]})


@given(demands_and_bought(), POLICIES, st.booleans(), st.data())
def test_reallocation_invariants(case, policy, with_increments, data):
    demands, bought = case
    allocated = allocate_units(demands, bought, policy)
    incs = {d.member_key: d.increments for d in demands} if with_increments else None
    delivered = data.draw(st.integers(0, bought))
    result = reallocate_delivery(allocated, delivered, policy, incs)
    assert list(result) == list(allocated)
    assert sum(result.values()) == delivered
    assert all(0 <= result[k] <= allocated[k] for k in allocated)
    assert reallocate_delivery(allocated, bought, policy, incs) == allocated  # full delivery changes nothing
    assert reallocate_delivery(dict(allocated), delivered, policy, incs) == result


# --- order changes -----------------------------------------------------------------


def test_apply_change_examples():
    incs = apply_change((), 3, 0, 1)
    assert incs == (Increment(1, 3, 0),)
    incs = apply_change(incs, 5, 1, 2)
    assert incs == (Increment(1, 3, 0), Increment(2, 2, 1))
    assert apply_change(incs, 4, 1, 3) == (Increment(1, 3, 0), Increment(2, 1, 1))
    assert apply_change(incs, 2, 1, 3) == (Increment(1, 2, 0), Increment(2, 0, 1))
    assert apply_change(incs, 2, 3, 3) == (Increment(1, 2, 0), Increment(2, 0, 1), Increment(3, 0, 2))
    assert apply_change(incs, 0, 0, 3) == ()
    with pytest.raises(ValueError, match="not newer"):
        apply_change(incs, 9, 0, 2)


@given(st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), max_size=12))
def test_apply_change_keeps_totals_and_cuts_newest_first(changes):
    incs: tuple[Increment, ...] = ()
    for seq, (new_q, new_f) in enumerate(changes, start=1):
        old = incs
        incs = apply_change(old, new_q, new_f, seq)
        Demand(1, new_q, new_f, incs)  # totals match and the order in time holds
        assert all(i.quantity > 0 or i.flex > 0 for i in incs)
        for field in ("quantity", "flex"):
            before = {i.at_seq: getattr(i, field) for i in old}
            after = {i.at_seq: getattr(i, field) for i in incs}
            seqs = sorted(before)
            cut = [s for s in seqs if after.get(s, 0) < before[s]]
            assert all(after.get(s, 0) <= before[s] for s in seqs)  # nothing old grows
            if cut:  # every increment newer than the oldest cut one is emptied
                assert all(after.get(s, 0) == 0 for s in seqs if s > cut[0])
            assert after.get(seq, 0) == max((new_q if field == "quantity" else new_f) - sum(before.values()), 0)


# --- money -------------------------------------------------------------------------


def test_a_closed_line_left_alone_is_its_firm_quantity_at_the_items_price():
    # The close wrote nothing on this line: 3 firm units at the item's 333 with 10 % markup.
    assert closed_line(3, (None, None, None), 333, Decimal("0.10")) == (3, 333, 1099)
    # A line whose allocation the close wrote: 2 units, priced the same way.
    assert closed_line(3, (2, None, None), 333, Decimal("0.10")) == (2, 333, 733)
    # After delivery every figure is stored, and the stored ones win (total = delivered units').
    assert closed_line(3, (2, 333, 366), 340, Decimal("0.10")) == (2, 333, 366)


def test_line_total_rounds_once_per_line():
    # 3 x 333 x 1.10 = 1098.9 -> 1099; rounding per unit would give 3 x 366 = 1098.
    assert line_total_cents(3, 333, Decimal("0.10")) == 1099
    assert line_total_cents(1, 5, Decimal("0.1")) == 6  # 5.5 rounds half up
    assert line_total_cents(0, 999, Decimal("0.2")) == 0
    with pytest.raises(TypeError):
        line_total_cents(1, 100, 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        line_total_cents(1, 100, Decimal("-0.1"))


def test_max_order_total_uses_the_dearest_tier():
    tiers = [Tier(1, 1000), Tier(12, 900)]
    assert max_order_total_cents(5, tiers, Decimal("0.05")) == 5250
    assert max_order_total_cents(30, tiers) == 30_000


@given(
    st.lists(st.tuples(st.integers(0, 500), st.integers(0, 100_000)), max_size=8),
    st.decimals(min_value=0, max_value=1, places=4),
    valid_tiers(),
)
def test_charges_sum_exactly(lines, markup, tiers):
    totals = [line_total_cents(units, price, markup) for units, price in lines]
    for (units, price), total in zip(lines, totals, strict=True):
        assert total == round_to_cents(units * price * (1 + Fraction(markup)), Rounding.HALF_UP)
        assert line_total_cents(units, price, Decimal(0)) == units * price
    charge = sum(totals)
    assert abs(charge - sum(units * price * (1 + Fraction(markup)) for units, price in lines)) <= Fraction(
        len(lines), 2
    )
    for units, _ in lines:  # the hold covers every tier the buy can close at
        hold = max_order_total_cents(units, tiers, markup)
        assert all(hold >= line_total_cents(units, t.unit_price_cents, markup) for t in tiers)


@given(
    st.integers(0, 10**6),
    st.integers(0, 10**7),
    st.decimals(min_value=0, max_value=999_999, places=6, allow_nan=False, allow_infinity=False),
)
def test_pricing_in_millionths_is_the_line_total(units, price, markup):
    # What the close's statement computes in bigint, for every line of at most `units` units.
    cost = unit_cost_millionths(price, markup, units)
    if cost is None:  # only when the largest line would pass 64 bits
        assert max(units, 1) * price * (1 + Fraction(markup)) * 10**6 + 500_000 > BIGINT_MAX
        return
    for n in {0, 1, units // 2, units}:
        assert (n * cost + 500_000) // 1_000_000 == line_total_cents(n, price, markup)
        assert n * cost + 500_000 <= BIGINT_MAX


def test_pricing_in_millionths_refuses_what_it_cannot_do_exactly():
    assert unit_cost_millionths(333, Decimal("0.10"), 3) == 366_300_000
    assert unit_cost_millionths(5, Decimal("0.1"), 1) == 5_500_000  # 5.5 cents: HALF_UP gives 6
    assert unit_cost_millionths(333, Decimal("0.0000001"), 3) is None  # finer than a millionth
    assert unit_cost_millionths(100, Fraction(1, 3), 3) is None
    assert unit_cost_millionths(10**9, Decimal(0), 10**4) is None  # 10**19 millionths
    assert unit_cost_millionths(10**9, Decimal(0), 9 * 10**3) == 10**15
    assert unit_cost_millionths(10**14, Decimal(0), 0) is None  # no line, but the cost is bound as a bigint
    with pytest.raises(ValueError, match="negative"):
        unit_cost_millionths(100, Decimal("-0.1"), 1)


# --- minimum at close --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "minimum", "outcome", "extended", "decision"),
    [
        (10_000, 10_000, MinimumOutcome.CANCEL, False, Decision(CloseAction.ORDER, minimum_met=True)),
        (10_000, None, MinimumOutcome.CANCEL, False, Decision(CloseAction.ORDER, minimum_met=True)),
        (9_999, 10_000, MinimumOutcome.CANCEL, False, Decision(CloseAction.CANCEL, minimum_met=False)),
        (9_999, 10_000, MinimumOutcome.PROCEED, False, Decision(CloseAction.ORDER, minimum_met=False)),
        (9_999, 10_000, MinimumOutcome.EXTEND, False, Decision(CloseAction.EXTEND, minimum_met=False)),
        (9_999, 10_000, MinimumOutcome.EXTEND, True, Decision(CloseAction.CANCEL, minimum_met=False)),
        (10_000, 10_000, MinimumOutcome.EXTEND, True, Decision(CloseAction.ORDER, minimum_met=True)),
        (0, 1, MinimumOutcome.HOLD, True, Decision(CloseAction.HOLD, minimum_met=False)),
    ],
)
def test_close_decision(value, minimum, outcome, extended, decision):
    assert close_decision(value, minimum, outcome, already_extended=extended) == decision


# --- live progress -----------------------------------------------------------------


def test_product_progress_example():
    tiers = [Tier(1, 500), Tier(12, 450), Tier(24, 400)]
    # Q = 10, F = 1, S = 6: one case (A = 6) at 500; one more unit completes the
    # second case, and one more firm unit reaches 12 units at 450.
    assert product_progress(10, 1, 6, tiers) == Progress(10, 1, 1, 1, 500, NextTier(12, 450, 1))
    assert product_progress(12, 0, 6, tiers) == Progress(12, 0, 2, 0, 450, NextTier(24, 400, 12))
    assert product_progress(0, 0, 6, tiers) == Progress(0, 0, 0, 0, 500, NextTier(12, 450, 12))
    assert product_progress(30, 0, 6, tiers) == Progress(30, 0, 5, 0, 400, None)


@given(st.integers(0, 120), st.integers(0, 30), st.integers(1, 12), valid_tiers())
def test_progress_units_needed_is_the_fewest_firm_units(q, f, s, tiers):
    progress = product_progress(q, f, s, tiers)
    bought = progress.cases * s
    assert progress.unit_price_cents == tier_for(tiers, bought).unit_price_cents
    target = progress.next_tier
    if target is None:
        return
    assert target.unit_price_cents < progress.unit_price_cents
    x = target.units_needed
    assert x > 0
    reached = cases_to_order(q + x, f, s) * s
    assert tier_for(tiers, reached).unit_price_cents <= target.unit_price_cents
    short = cases_to_order(q + x - 1, f, s) * s
    assert tier_for(tiers, short).unit_price_cents > target.unit_price_cents


# --- order requests ------------------------------------------------------------------


def test_order_line_errors_name_every_bad_line():
    offered = {1, 2}
    assert order_line_errors([LineRequest(1, 2, 1), LineRequest(2, 0, 3)], offered) == []
    errors = order_line_errors(
        [LineRequest(1, 2), LineRequest(1, 1), LineRequest(9, 1), LineRequest(2, -1, -2)], offered
    )
    assert errors == [
        FieldError("lines[1].product_id", "the product appears more than once"),
        FieldError("lines[2].product_id", "the product is not offered in this group buy"),
        FieldError("lines[3].quantity", "must be a non-negative integer"),
        FieldError("lines[3].flex_quantity", "must be a non-negative integer"),
    ]
    assert [e.field for e in order_line_errors([LineRequest(1, 0, 0)], offered)] == ["lines"]
    assert [e.field for e in order_line_errors([], offered)] == ["lines"]


# --- close plan -----------------------------------------------------------------------


@st.composite
def products_to_close(draw):
    return [
        ProductDemand(product_id, draw(st.integers(1, 8)), tuple(draw(valid_tiers())), tuple(draw(demand_lists())))
        for product_id in range(1, draw(st.integers(1, 3)) + 1)
    ]


def test_the_close_plan_example():
    # Flour (cases of 6): A orders 4 + 2 flex, B orders 5, C 2 flex. Q = 9, F = 4, r = 3, 3 + 4 >= 6:
    # two cases, A = 12 units, which reaches the 12-unit tier no member reaches alone.
    flour = ProductDemand(
        7,
        6,
        (Tier(1, 500), Tier(12, 450)),
        (demand(1, (1, 4, 2)), demand(2, (2, 5, 0)), demand(3, (3, 0, 2))),
    )
    plan = plan_close([flour], AllocationPolicy.PRO_RATA, min_value_cents=5_000)
    assert plan.decision == Decision(CloseAction.ORDER, minimum_met=True)
    (outcome,) = plan.products
    assert (outcome.quantity, outcome.flex, outcome.cases, outcome.bought) == (9, 4, 2, 12)
    assert outcome.unit_price_cents == 450
    assert outcome.allocations == {1: 6, 2: 5, 3: 1}  # extra 3 = LRM(3, [2, 0, 2]): 1.5 / 0 / 1.5, tie to A
    assert plan.supplier_value_cents == 5_400
    missed = plan_close([flour], min_value_cents=6_000, outcome=MinimumOutcome.EXTEND)
    assert missed.decision == Decision(CloseAction.EXTEND, minimum_met=False)
    assert "missed" in missed.reason
    nothing = ProductDemand(8, 6, (Tier(1, 100),), (demand(1, (1, 5, 0)),))
    empty = plan_close([nothing], min_value_cents=None, outcome=MinimumOutcome.PROCEED)
    assert empty.decision.action is CloseAction.CANCEL
    assert empty.reason == "no case was filled"


@given(products_to_close(), POLICIES, st.integers(0, 20_000), st.sampled_from(list(MinimumOutcome)), st.booleans())
def test_close_plan_invariants(products, policy, minimum, outcome, extended):
    plan = plan_close(products, policy, minimum, outcome, already_extended=extended)
    for product, result in zip(products, plan.products, strict=True):
        assert result.cases == cases_to_order(result.quantity, result.flex, product.case_size)
        assert result.bought == result.cases * product.case_size
        assert sum(result.allocations.values()) == result.bought  # units allocated equal units bought
        for d in product.demands:
            assert 0 <= result.allocations[d.member_key] <= d.quantity + d.flex
        # every participant pays the one tier the group's bought units reach
        assert result.unit_price_cents == tier_for(product.tiers, result.bought).unit_price_cents
    assert plan.supplier_value_cents == sum(r.bought * r.unit_price_cents for r in plan.products)
    if all(r.bought == 0 for r in plan.products):
        assert plan.decision.action is CloseAction.CANCEL
    else:
        assert plan.decision == close_decision(plan.supplier_value_cents, minimum, outcome, already_extended=extended)
    assert plan_close(products, policy, minimum, outcome, already_extended=extended) == plan  # deterministic


# --- delivery plan --------------------------------------------------------------------


def test_the_delivery_plan_example():
    # 12 allocated (6 / 5 / 1), 9 delivered: LRM(9, [6, 5, 1]) = 4.5 / 3.75 / 0.75 -> 4 / 4 / 1.
    flour = Delivered(7, "purchases", 450, Decimal("0.05"), 9, {1: 6, 2: 5, 3: 1})
    oil = Delivered(8, "fuel", 333, Decimal("0.05"), 2, {1: 2})
    plan = plan_delivery([flour, oil])
    delivered = {(ln.order_key, ln.product_id): ln.delivered for ln in plan.lines}
    assert delivered == {(1, 7): 4, (2, 7): 4, (3, 7): 1, (1, 8): 2}
    # 4 * 450 * 1.05 = 1890; 1 * 450 * 1.05 = 472.5 -> 473; 2 * 333 * 1.05 = 699.3 -> 699
    assert plan.charges == {1: 1890 + 699, 2: 1890, 3: 473}
    assert plan.patronage == {(1, "purchases"): 1890, (1, "fuel"): 699, (2, "purchases"): 1890, (3, "purchases"): 473}
    assert plan.shortages == {1: 2, 2: 1, 3: 0}


@given(products_to_close(), POLICIES, st.booleans(), st.decimals(min_value=0, max_value=1, places=3), st.data())
def test_delivery_plan_invariants(products, policy, with_increments, markup, data):
    closing = plan_close(products, policy)
    delivered = []
    for product, result in zip(products, closing.products, strict=True):
        incs = {d.member_key: d.increments for d in product.demands} if with_increments else None
        units = data.draw(st.integers(0, result.bought))
        delivered.append(
            Delivered(
                product.product_id,
                f"pool{product.product_id % 2}",
                result.unit_price_cents,
                markup,
                units,
                result.allocations,
                incs,
            )
        )
    plan = plan_delivery(delivered, policy)
    for product in delivered:
        lines = [ln for ln in plan.lines if ln.product_id == product.product_id]
        assert sum(ln.delivered for ln in lines) == product.delivered
        assert all(0 <= ln.delivered <= ln.allocated for ln in lines)  # re-allocation never exceeds an allocation
    # charges sum exactly: per order and in all, to the line totals, and so does patronage
    assert sum(plan.charges.values()) == sum(ln.total_cents for ln in plan.lines)
    assert sum(plan.patronage.values()) == sum(plan.charges.values())
    for key, charge in plan.charges.items():
        assert charge == sum(ln.total_cents for ln in plan.lines if ln.order_key == key)
        assert plan.shortages[key] == sum(ln.allocated - ln.delivered for ln in plan.lines if ln.order_key == key)
    assert plan_delivery(delivered, policy) == plan  # same input, same output


# --- fiscal years and member business --------------------------------------------------
