"""Governance rules (DOMAIN.md §7): quorum, thresholds, STV and plurality counts, states, validation."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ConflictError, InvalidInputError
from domain.governance.rules import (
    TRANSITIONS,
    BallotEvent,
    BallotKind,
    BallotStatus,
    Choice,
    ElectionCount,
    Method,
    NewBallotRules,
    ResolutionCount,
    Round,
    Threshold,
    check_new_ballot,
    check_proxy,
    check_vote,
    count_plurality,
    count_resolution,
    count_stv,
    droop_quota,
    lot_seed,
    move_ballot,
    quorum_met,
    quorum_needed,
    status_at,
    threshold_met,
)
from tests.unit.ballot_examples import NOW, new_ballot

# --- quorum and thresholds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("eligible", "rate", "needed"),
    [(10, "0.5", 5), (11, "0.5", 6), (9, "0.333333", 3), (3, "0.333334", 2), (0, "0.5", 0), (7, "1", 7), (7, "0", 0)],
)
def test_the_quorum_is_the_rate_of_eligible_rounded_up_exactly(eligible: int, rate: str, needed: int) -> None:
    assert quorum_needed(eligible, Decimal(rate)) == needed


def test_six_yes_three_no_passes_two_thirds_exactly_and_five_four_does_not() -> None:
    assert threshold_met(Threshold.TWO_THIRDS, 6, 3)
    assert not threshold_met(Threshold.TWO_THIRDS, 5, 3)
    assert threshold_met(Threshold.THREE_QUARTERS, 3, 1)
    assert not threshold_met(Threshold.THREE_QUARTERS, 5, 2)
    assert threshold_met(Threshold.MAJORITY, 2, 1)
    assert not threshold_met(Threshold.MAJORITY, 2, 2)


def test_nobody_for_or_against_passes_nothing() -> None:
    assert not any(threshold_met(t, 0, 0) for t in Threshold)


def test_abstentions_count_toward_quorum_never_toward_the_threshold() -> None:
    choices = [Choice.YES] * 6 + [Choice.NO] * 3 + [Choice.ABSTAIN] * 5
    count = count_resolution(choices, eligible=20, quorum_rate=Decimal("0.7"), threshold=Threshold.TWO_THIRDS)
    assert (count.cast, count.quorum_needed, count.quorum_met, count.passed) == (14, 14, True, True)
    short = count_resolution(choices[:-1], eligible=20, quorum_rate=Decimal("0.7"), threshold=Threshold.TWO_THIRDS)
    assert (short.quorum_met, short.passed) == (False, False)


@given(
    st.lists(st.sampled_from(list(Choice)), max_size=60),
    st.integers(0, 80),
    st.decimals(0, 1, places=6),
    st.sampled_from(list(Threshold)),
)
def test_a_resolution_counts_each_ballot_once_and_passes_only_with_quorum_and_threshold(
    choices: list[Choice], extra: int, rate: Decimal, threshold: Threshold
) -> None:
    eligible = len(choices) + extra
    count = count_resolution(choices, eligible=eligible, quorum_rate=rate, threshold=threshold)
    assert count.yes + count.no + count.abstain == count.cast == len(choices)
    assert count.quorum_needed == -((-rate.as_integer_ratio()[0] * eligible) // rate.as_integer_ratio()[1])
    assert count.passed == (count.quorum_met and threshold_met(threshold, count.yes, count.no))
    # Ties go nowhere: a threshold is exact, so equal yes and no never pass a majority.
    if count.yes == count.no:
        assert not threshold_met(Threshold.MAJORITY, count.yes, count.no)


# --- STV ---------------------------------------------------------------------------------------

ORANGE, PEAR, CHOCOLATE, STRAWBERRY, HAMBURGER = 1, 2, 3, 4, 5
FOOD = [ORANGE, PEAR, CHOCOLATE, STRAWBERRY, HAMBURGER]


def _food_ballots() -> list[list[int]]:
    # https://en.wikipedia.org/wiki/Single_transferable_vote#Example ("food election"): 20 voters,
    # 3 seats, Droop quota 6; elected Chocolate, Oranges, Strawberries.
    return (
        [[ORANGE]] * 4
        + [[PEAR, ORANGE]] * 2
        + [[CHOCOLATE, STRAWBERRY]] * 8
        + [[CHOCOLATE, HAMBURGER]] * 4
        + [[STRAWBERRY]]
        + [[HAMBURGER]]
    )


def _stv(rankings: list[list[int]], candidates: list[int], seats: int, seed: int = 7) -> ElectionCount:
    return count_stv(
        rankings, candidates=candidates, seats=seats, eligible=len(rankings), quorum_rate=Decimal(0), seed=seed
    )


def test_stv_reproduces_the_wikipedia_food_election() -> None:
    count = _stv(_food_ballots(), FOOD, 3)
    assert count.quota == droop_quota(20, 3) == 6
    assert count.elected == (CHOCOLATE, ORANGE, STRAWBERRY)
    first, second = count.rounds[0], count.rounds[1]
    assert first.tallies == {ORANGE: 4, PEAR: 2, CHOCOLATE: 12, STRAWBERRY: 1, HAMBURGER: 1}
    assert first.elected == (CHOCOLATE,)
    # Chocolate's surplus of 6 goes on at 6/12 per ballot: 8 halves to Strawberries, 4 to Hamburgers.
    assert first.transfers == {STRAWBERRY: 4, HAMBURGER: 2}
    assert second.tallies == {ORANGE: 4, PEAR: 2, STRAWBERRY: 5, HAMBURGER: 3}
    assert second.eliminated == (PEAR,)
    assert second.transfers == {ORANGE: 2}
    assert count.rounds[2].elected == (ORANGE,)
    assert count.rounds[3].eliminated == (HAMBURGER,)
    assert count.rounds[3].exhausted == 3  # 4 half-value Chocolate-Hamburger ballots and one whole
    assert count.rounds[-1].elected == (STRAWBERRY,)


def test_transfers_keep_exact_fractions() -> None:
    ballots = [[1, 2]] * 2 + [[1, 3]] * 1 + [[2]] * 1 + [[3]] * 1
    count = _stv(ballots, [1, 2, 3], 2)
    # quota floor(5/3)+1 = 2; candidate 1 has 3, surplus 1 spread over 3 ballots at 1/3 each.
    assert count.rounds[0].transfers == {2: Fraction(2, 3), 3: Fraction(1, 3)}


def test_below_quorum_nobody_is_elected() -> None:
    count = count_stv([[1]] * 3, candidates=[1, 2], seats=1, eligible=10, quorum_rate=Decimal("0.5"), seed=1)
    assert (count.quorum_met, count.elected, count.rounds) == (False, (), ())


def test_a_tie_for_exclusion_goes_to_the_lower_at_the_earliest_round_where_they_differ() -> None:
    # Round 1: A=3 B=2 C=2 D=2... make B and C tie in round 2 after differing in round 1.
    a, b, c, d = 1, 2, 3, 4
    ballots = [[a]] * 4 + [[b]] * 2 + [[c]] * 1 + [[d, c]] * 1
    count = _stv(ballots, [a, b, c, d], 1)
    # quota 5: nobody; D (1) is excluded, its ballot goes to C: B=2, C=2 tie, C was lower in round 1.
    assert count.rounds[0].eliminated == (d,)
    assert count.rounds[1].tallies[b] == count.rounds[1].tallies[c] == 2
    assert count.rounds[1].eliminated == (c,)
    assert count.rounds[1].tie is not None
    assert "round 1" in count.rounds[1].tie


def test_a_tie_with_no_earlier_difference_is_drawn_by_lot_the_same_way_every_time() -> None:
    ballots = [[1]] * 2 + [[2]] * 2 + [[3]] * 5
    outcomes = {_stv(ballots, [1, 2, 3], 2, seed=lot_seed(42)).elected for _ in range(5)}
    assert len(outcomes) == 1
    count = _stv(ballots, [1, 2, 3], 2, seed=lot_seed(42))
    assert any(r.tie and "lot" in r.tie for r in count.rounds)
    seeds = {_stv(ballots, [1, 2, 3], 2, seed=lot_seed(n)).elected for n in range(40)}
    assert len(seeds) == 2  # the lot really draws: other seeds pick the other candidate


def _prefix(order: list[int]) -> st.SearchStrategy[list[int]]:
    return st.integers(1, len(order)).map(lambda k: order[:k])


rankings_strategy = st.integers(1, 7).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.integers(1, n + 1),
        st.lists(
            st.permutations(list(range(1, n + 1))).flatmap(lambda p: st.integers(1, len(p)).map(lambda k: p[:k])),
            max_size=40,
        ),
    )
)


@settings(max_examples=200)
@given(rankings_strategy, st.integers(0, 2**32))
def test_stv_elects_the_seats_deterministically_and_conserves_every_vote(
    drawn: tuple[int, int, list[list[int]]], seed: int
) -> None:
    n, seats, ballots = drawn
    candidates = list(range(1, n + 1))
    count = _stv(ballots, candidates, seats, seed=seed)
    if ballots:
        assert len(count.elected) == min(seats, n)
        assert len(set(count.elected)) == len(count.elected)
    assert _stv(ballots, candidates, seats, seed=seed) == count
    kept: dict[int, Fraction] = {}
    exhausted = Fraction(0)
    for r in count.rounds:
        # At the start of each round every ballot's value is with a continuing candidate, kept by an
        # elected one (its quota), or exhausted: nothing is lost or made.
        assert sum(r.tallies.values()) + sum(kept.values()) + exhausted == len(ballots)
        kept, exhausted = dict(r.kept), r.exhausted_total
        assert sum(r.transfers.values()) + r.exhausted <= len(ballots)
        # And at its end: with those still continuing (what they had plus what they received),
        # kept by the elected, or exhausted.
        staying = sum(v for c, v in r.tallies.items() if c not in r.elected and c not in r.eliminated)
        assert staying + sum(r.transfers.values()) + sum(r.kept.values()) + r.exhausted_total == len(ballots)
    # Rounds are numbered from 1 against one quota, and the count stops with the round that fills the last seat.
    assert [r.number for r in count.rounds] == list(range(1, len(count.rounds) + 1))
    assert all(r.quota == count.quota for r in count.rounds)
    assert count.elected[-1] in count.rounds[-1].elected


@given(st.integers(2, 6), st.data())
def test_a_majority_of_first_preferences_wins_one_seat(n: int, data: st.DataObject) -> None:
    candidates = list(range(1, n + 1))
    winner = data.draw(st.sampled_from(candidates))
    others = [c for c in candidates if c != winner]
    backers = data.draw(st.integers(1, 30))
    rest = data.draw(st.lists(st.permutations(others).map(list), max_size=backers - 1))
    ballots = [[winner, *data.draw(st.permutations(others))] for _ in range(backers)] + rest
    count = _stv(ballots, candidates, 1, seed=data.draw(st.integers(0, 99)))
    assert count.elected == (winner,)


def test_plurality_elects_the_most_named_and_draws_a_tie_for_the_last_seat_by_lot() -> None:
    ballots = [[1, 2]] * 3 + [[2, 3]] * 2 + [[4]] * 2
    count = count_plurality(ballots, candidates=[1, 2, 3, 4], seats=2, eligible=7, quorum_rate=Decimal(0), seed=3)
    assert count.elected == (2, 1)
    assert count.rounds[0].tallies == {1: 3, 2: 5, 3: 2, 4: 2}
    tied = count_plurality([[1], [2]], candidates=[1, 2], seats=1, eligible=2, quorum_rate=Decimal(0), seed=3)
    assert tied.rounds[0].tie is not None
    assert tied == count_plurality([[1], [2]], candidates=[1, 2], seats=1, eligible=2, quorum_rate=Decimal(0), seed=3)


# --- states and validation ------------------------------------------------------------------------


def test_the_ballot_moves_scheduled_open_closed_and_closed_is_final() -> None:
    assert move_ballot("scheduled", BallotEvent.OPEN) is BallotStatus.OPEN
    assert move_ballot("open", BallotEvent.CLOSE) is BallotStatus.CLOSED
    assert {s for s, _ in TRANSITIONS} == {BallotStatus.SCHEDULED, BallotStatus.OPEN}
    for event in BallotEvent:
        with pytest.raises(ConflictError) as refused:
            move_ballot("closed", event, ballot_id=9)
        assert refused.value.code == "ballot_transition_refused"
    with pytest.raises(ConflictError):
        move_ballot("open", BallotEvent.OPEN)


def _fields(new: NewBallotRules) -> set[str]:
    with pytest.raises(InvalidInputError) as bad:
        check_new_ballot(new, now=NOW)
    return {e.field for e in bad.value.errors}


def test_a_new_ballot_names_every_bad_field() -> None:
    check_new_ballot(new_ballot(), now=NOW)
    assert _fields(new_ballot(closes_at=NOW)) == {"closes_at"}
    assert _fields(new_ballot(record_date=date(2026, 6, 2))) == {"record_date"}
    assert _fields(new_ballot(record_date=date(2026, 6, 1))) == {"record_date"}  # the roll could still change
    assert _fields(new_ballot(quorum_rate=Decimal("1.5"))) == {"quorum_rate"}
    assert _fields(new_ballot(seats=2, method=Method.STV)) == {"seats", "method"}
    election = {"kind": BallotKind.ELECTION, "threshold": None, "seats": 2, "method": Method.STV}
    check_new_ballot(new_ballot(**election, candidate_names=("Ann", "Bo")), now=NOW)
    assert _fields(new_ballot(**election, candidate_names=("Ann", "ann "))) == {"candidates"}
    assert _fields(new_ballot(**{**election, "seats": 0}, candidate_names=("Ann",))) == {"seats"}
    no_names = {**election, "candidate_names": None, "threshold": Threshold.MAJORITY}
    assert _fields(new_ballot(**no_names)) == {"candidates", "threshold"}


def test_a_vote_must_fit_its_ballot() -> None:
    check_vote(BallotKind.RESOLUTION, choice="yes", ranking=None, candidates=[], method=None, seats=None)
    check_vote(BallotKind.ELECTION, choice=None, ranking=[2, 1], candidates=[1, 2], method=Method.STV, seats=1)
    cases = [
        (BallotKind.RESOLUTION, None, [1], "choice"),
        (BallotKind.ELECTION, None, [1, 1], "ranking"),
        (BallotKind.ELECTION, None, [3], "ranking"),
        (BallotKind.ELECTION, "yes", [1], "choice"),
    ]
    for kind, choice, ranking, field in cases:
        with pytest.raises(InvalidInputError) as bad:
            check_vote(kind, choice=choice, ranking=ranking, candidates=[1, 2], method=Method.STV, seats=1)
        assert field in {e.field for e in bad.value.errors}
    with pytest.raises(InvalidInputError):
        check_vote(
            BallotKind.ELECTION, choice=None, ranking=[1, 2], candidates=[1, 2], method=Method.PLURALITY, seats=1
        )


def test_the_status_at_a_cut_off_is_the_latest_change_before_it() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    history = [(t, 1, "full"), (t + timedelta(days=2), 2, "suspended"), (t + timedelta(days=2), 3, "full")]
    assert status_at(history, t) is None
    assert status_at(history, t + timedelta(days=1)) == "full"
    assert status_at(history, t + timedelta(days=3)) == "full"  # same instant: the later record
    assert status_at(history[:2], t + timedelta(days=3)) == "suspended"


def test_a_backdated_change_recorded_later_does_not_override_a_later_effective_one() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    # Suspended on the 5th; a withdrawal recorded afterwards takes effect (backdated) on the 3rd.
    history = [(t, 1, "full"), (t + timedelta(days=4), 2, "suspended"), (t + timedelta(days=2), 3, "former")]
    assert status_at(history, t + timedelta(days=3)) == "former"
    assert status_at(history, t + timedelta(days=9)) == "suspended"


def test_a_proxy_needs_another_member_a_ballot_that_takes_proxies_and_room_under_the_cap() -> None:
    check_proxy(grantor=1, holder=2, cap=2, held=1)
    with pytest.raises(InvalidInputError):
        check_proxy(grantor=1, holder=1, cap=2, held=0)
    with pytest.raises(ConflictError) as off:
        check_proxy(grantor=1, holder=2, cap=None, held=0)
    assert off.value.code == "proxies_not_allowed"
    with pytest.raises(ConflictError) as full:
        check_proxy(grantor=1, holder=2, cap=2, held=2)
    assert full.value.code == "proxy_cap_reached"


# --- edges mutation testing found unpinned ------------------------------------------------------


def test_quorum_is_met_at_exactly_the_ballots_needed() -> None:
    assert quorum_met(5, 10, Decimal("0.5"))
    assert not quorum_met(4, 10, Decimal("0.5"))
    assert quorum_met(6, 11, Decimal("0.5"))
    assert not quorum_met(5, 11, Decimal("0.5"))
    assert quorum_met(0, 0, Decimal("0.5"))  # nobody eligible: nothing needed


def test_one_yes_and_nobody_against_passes_every_threshold() -> None:
    assert all(threshold_met(t, 1, 0) for t in Threshold)


def test_a_resolution_count_reports_every_figure() -> None:
    choices = [Choice.YES] * 6 + [Choice.NO] * 3 + [Choice.ABSTAIN] * 5
    count = count_resolution(choices, eligible=20, quorum_rate=Decimal("0.7"), threshold=Threshold.TWO_THIRDS)
    assert count == ResolutionCount(
        eligible=20, cast=14, quorum_needed=14, quorum_met=True, yes=6, no=3, abstain=5, passed=True
    )


def test_the_lot_seed_of_a_ballot_is_fixed_so_a_recount_draws_the_same() -> None:
    # Pinned: a seed shown with a past result must still reproduce its lot.
    assert lot_seed(42) == 6017827018176719163
    assert all(0 <= lot_seed(n) < 2**64 for n in range(200))


def test_stv_reports_the_quorum_the_seats_and_the_seed_with_the_elected() -> None:
    count = count_stv(_food_ballots(), candidates=FOOD, seats=3, eligible=25, quorum_rate=Decimal("0.5"), seed=7)
    assert (count.eligible, count.cast, count.quorum_needed, count.quorum_met) == (25, 20, 13, True)
    assert (count.seats, count.quota, count.seed) == (3, 6, 7)
    assert [r.number for r in count.rounds] == [1, 2, 3, 4, 5]
    # The last seat goes to the only one left: Strawberries keep their 5 votes; 3 ballots exhausted.
    assert count.rounds[-1] == Round(
        5,
        6,
        {STRAWBERRY: Fraction(5)},
        elected=(STRAWBERRY,),
        exhausted_total=Fraction(3),
        kept={CHOCOLATE: Fraction(6), ORANGE: Fraction(6), STRAWBERRY: Fraction(5)},
    )


def test_below_quorum_an_stv_count_still_reports_its_figures() -> None:
    count = count_stv([[1]] * 3, candidates=[1, 2], seats=1, eligible=10, quorum_rate=Decimal("0.5"), seed=1)
    assert count == ElectionCount(10, 3, 5, False, 1, 2, (), (), 1)


def test_candidates_no_more_than_the_seats_are_all_elected_most_votes_first() -> None:
    count = _stv([[2]] * 3 + [[1]], [1, 2], 2)
    assert count.elected == (2, 1)
    assert count.rounds == (
        Round(1, 2, {1: Fraction(1), 2: Fraction(3)}, elected=(2, 1), kept={1: Fraction(1), 2: Fraction(3)}),
    )
    assert _stv([[2], [1]], [1, 2], 2).elected == (1, 2)  # equal votes: the lower number first


def test_of_those_reaching_the_quota_the_most_votes_is_elected_first_and_a_tie_goes_to_the_earlier_higher() -> None:
    # Quota floor(3/4) + 1 = 1. Round 1: 1 has 2 and 3 has 1, both at quota: 1 (more) is elected and
    # its surplus of 1 goes on at 1/2 per ballot to 4. Round 2: 3 and 4 both have 1; 3 had more in
    # round 1, so 3 is elected before 4.
    count = _stv([[3, 2], [1, 4], [1, 4]], [1, 2, 3, 4], 3)
    assert count.elected == (1, 3, 4)
    assert [r.elected for r in count.rounds] == [(1,), (3,), (4,)]
    assert count.rounds[0].transfers == {4: Fraction(1)}
    assert count.rounds[1].tie == "tie between [3, 4] broken by the tallies of round 1"


def _plurality(rankings: list[list[int]], **changes: object) -> ElectionCount:
    terms: dict[str, object] = {"candidates": [1, 2, 3, 4], "seats": 2, "eligible": 10, "quorum_rate": Decimal("0.5")}
    return count_plurality(rankings, **{**terms, "seed": 3, **changes})  # type: ignore[arg-type]


def test_a_plurality_count_reports_every_figure() -> None:
    ballots = [[1, 2]] * 3 + [[2, 3]] * 2 + [[4]] * 2
    tallies = {1: Fraction(3), 2: Fraction(5), 3: Fraction(2), 4: Fraction(2)}
    assert _plurality(ballots) == ElectionCount(
        10, 7, 5, True, 2, None, (2, 1), (Round(1, None, tallies, elected=(2, 1), kept=tallies),), 3
    )
    assert _plurality(ballots[:4]) == ElectionCount(10, 4, 5, False, 2, None, (), (), 3)


def test_plurality_quorum_counts_the_turnout_when_given_and_is_met_at_exactly_the_needed() -> None:
    assert _plurality([[1]] * 5).quorum_met
    assert not _plurality([[1]] * 5, turnout=4).quorum_met
    assert _plurality([[1]] * 2, turnout=5).quorum_met
    assert _plurality([[1]] * 2, turnout=5).elected != ()


def test_plurality_notes_every_lot_it_draws() -> None:
    count = _plurality([[1], [2], [3]], candidates=[1, 2, 3], eligible=3)
    tie = count.rounds[0].tie
    assert tie is not None
    first, second = tie.split("; ")
    assert re.fullmatch(r"tie between \[1, 2, 3\] broken by lot \(seed recorded\)", first)
    assert re.fullmatch(r"tie between \[\d, \d\] broken by lot \(seed recorded\)", second)


def test_a_plurality_lot_draws_from_the_recorded_seed_alone() -> None:
    # A three-way tie for one seat, recounted: only the seed decides, so every recount agrees
    # (a lot drawn from anything else would differ from a recount two times in three).
    counts = [_plurality([[1], [2], [3]], candidates=[1, 2, 3], seats=1, eligible=3) for _ in range(30)]
    assert all(count == counts[0] for count in counts)
