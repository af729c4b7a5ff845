"""What staff and members read when a ballot, a vote, a proxy or a ballot's move is refused.

The detail, the code and every (field, message) pair reach the client as problem+json, so they
are pinned exactly, as in test_equity_refusals.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.governance.rules import (
    BallotEvent,
    BallotKind,
    BallotStatus,
    Method,
    NewBallotRules,
    Threshold,
    check_new_ballot,
    check_proxy,
    check_vote,
    move_ballot,
)
from tests.unit.ballot_examples import NOW, new_ballot
from tests.unit.refusals import conflict, invalid

# --- moves ------------------------------------------------------------------------------


def test_a_scheduled_ballot_may_be_called_off() -> None:
    assert move_ballot("scheduled", BallotEvent.CLOSE) is BallotStatus.CLOSED


@pytest.mark.parametrize(
    ("status", "event", "detail"),
    [
        ("closed", BallotEvent.OPEN, "ballot 9 is closed; it cannot open (allowed from closed: none (final state))"),
        ("closed", BallotEvent.CLOSE, "ballot 9 is closed; it cannot close (allowed from closed: none (final state))"),
        ("open", BallotEvent.OPEN, "ballot 9 is open; it cannot open (allowed from open: close)"),
    ],
)
def test_a_refused_move_names_the_ballot_and_the_moves_it_has(status, event, detail) -> None:
    assert conflict(lambda: move_ballot(status, event, ballot_id=9)) == (detail, "ballot_transition_refused")


# --- proxies ----------------------------------------------------------------------------


def test_proxy_refusals_say_why() -> None:
    assert invalid(lambda: check_proxy(grantor=3, holder=3, cap=2, held=0)) == (
        "a member cannot appoint itself",
        [("holder_member_id", "must be another member")],
    )
    assert conflict(lambda: check_proxy(grantor=1, holder=2, cap=None, held=0)) == (
        "this ballot takes no proxies",
        "proxies_not_allowed",
    )
    assert conflict(lambda: check_proxy(grantor=1, holder=2, cap=2, held=2)) == (
        "member 2 already holds 2 proxies, the most this ballot allows",
        "proxy_cap_reached",
    )


def test_a_holder_takes_proxies_up_to_the_cap_and_none_when_it_is_zero() -> None:
    check_proxy(grantor=1, holder=2, cap=1, held=0)
    assert conflict(lambda: check_proxy(grantor=1, holder=2, cap=0, held=0))[1] == "proxy_cap_reached"


# --- new ballots ------------------------------------------------------------------------


ELECTION = {"kind": BallotKind.ELECTION, "threshold": None, "seats": 2, "method": Method.STV}


def _refusal(new: NewBallotRules) -> list[tuple[str, str]]:
    detail, pairs = invalid(lambda: check_new_ballot(new, now=NOW))
    assert detail == "the ballot is not valid"
    return pairs


def test_a_new_ballot_names_every_bad_field_with_its_message() -> None:
    bad = new_ballot(
        opens_at=NOW - timedelta(days=3),
        closes_at=NOW - timedelta(days=4),
        record_date=date(2026, 5, 29),
        quorum_rate=Decimal("-0.01"),
        seats=1,
        method=Method.PLURALITY,
        candidate_names=("Ann",),
    )
    assert _refusal(bad) == [
        ("closes_at", "must be after opens_at"),
        ("closes_at", "must be in the future"),
        ("record_date", "must be before the day the ballot opens"),
        ("quorum_rate", "must be from 0 to 1"),
        ("seats", "only for elections"),
        ("method", "only for elections"),
        ("candidates", "only for elections"),
    ]


def test_an_elections_own_fields_are_named_with_their_limits() -> None:
    assert _refusal(new_ballot(**{**ELECTION, "threshold": Threshold.MAJORITY, "seats": None}, candidate_names=())) == [
        ("threshold", "only for resolutions"),
        ("seats", "an election needs 1 to 100 seats"),
        ("candidates", "an election needs 1 to 200 candidates"),
    ]
    assert _refusal(new_ballot(**ELECTION, candidate_names=("Ann", " ANN"))) == [
        ("candidates", "candidate names must differ")
    ]


def test_the_window_may_not_be_empty_nor_end_now() -> None:
    assert _refusal(new_ballot(closes_at=NOW)) == [
        ("closes_at", "must be after opens_at"),
        ("closes_at", "must be in the future"),
    ]
    early = NOW - timedelta(days=1)
    check_new_ballot(
        new_ballot(record_date=date(2026, 5, 30), opens_at=early, closes_at=NOW + timedelta(microseconds=1)), now=NOW
    )


@pytest.mark.parametrize("rate", ["0", "1"])
def test_a_quorum_of_none_or_of_everyone_is_allowed(rate) -> None:
    check_new_ballot(new_ballot(quorum_rate=Decimal(rate)), now=NOW)


@pytest.mark.parametrize(("seats", "ok"), [(0, False), (1, True), (100, True), (101, False)])
def test_an_election_has_1_to_100_seats(seats, ok) -> None:
    new = new_ballot(**{**ELECTION, "seats": seats}, candidate_names=("Ann",))
    if ok:
        check_new_ballot(new, now=NOW)
    else:
        assert _refusal(new) == [("seats", "an election needs 1 to 100 seats")]


@pytest.mark.parametrize(("count", "ok"), [(1, True), (200, True), (201, False)])
def test_an_election_has_1_to_200_candidates(count, ok) -> None:
    new = new_ballot(**ELECTION, candidate_names=tuple(f"c{i}" for i in range(count)))
    if ok:
        check_new_ballot(new, now=NOW)
    else:
        assert _refusal(new) == [("candidates", "an election needs 1 to 200 candidates")]


def test_candidate_names_differ_after_blanks_and_case_are_folded() -> None:
    assert _refusal(new_ballot(**ELECTION, candidate_names=("Straße", "STRASSE"))) == [
        ("candidates", "candidate names must differ")
    ]
    check_new_ballot(new_ballot(**ELECTION, candidate_names=("Ann", "Anna")), now=NOW)


# --- votes ------------------------------------------------------------------------------


def _vote(kind: BallotKind, *, choice=None, ranking=None, method=Method.STV, seats=1) -> list[tuple[str, str]]:
    detail, pairs = invalid(
        lambda: check_vote(kind, choice=choice, ranking=ranking, candidates=[1, 2, 3], method=method, seats=seats)
    )
    assert detail == "the vote is not valid"
    return pairs


def test_a_resolution_vote_names_what_is_wrong() -> None:
    assert _vote(BallotKind.RESOLUTION, ranking=[1]) == [
        ("choice", "a resolution takes yes, no or abstain"),
        ("ranking", "only for elections"),
    ]
    assert _vote(BallotKind.RESOLUTION, choice="no", ranking=[]) == [("ranking", "only for elections")]


def test_an_election_vote_names_what_is_wrong() -> None:
    assert _vote(BallotKind.ELECTION, choice="yes", ranking=[]) == [
        ("choice", "only for resolutions"),
        ("ranking", "rank at least one candidate"),
    ]
    assert _vote(BallotKind.ELECTION, ranking=None) == [("ranking", "rank at least one candidate")]
    assert _vote(BallotKind.ELECTION, ranking=[4, 1, 1]) == [
        ("ranking", "names a candidate not on this ballot"),
        ("ranking", "names a candidate twice"),
    ]
    assert _vote(BallotKind.ELECTION, ranking=[1, 2, 3], method=Method.PLURALITY, seats=2) == [
        ("ranking", "a plurality ballot names at most 2 candidates")
    ]


def test_a_plurality_ballot_names_up_to_the_seats_and_stv_ranks_any_number() -> None:
    def ok(ranking: list[int], method: Method | None, seats: int | None) -> None:
        check_vote(BallotKind.ELECTION, choice=None, ranking=ranking, candidates=[1, 2, 3], method=method, seats=seats)

    ok([1, 2], Method.PLURALITY, 2)
    ok([3, 1, 2], Method.STV, 1)
    ok([3, 1, 2], Method.PLURALITY, None)
