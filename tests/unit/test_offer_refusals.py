"""An offer's edges and what its refusals tell the client: the offer itself, and a claim on it.

A refusal's detail, code and (field, message) pairs are the problem+json a client shows, so they are pinned
exactly.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.network.rules import NewOffer, OfferWindow, checked_offer, claim_refusal, is_current
from tests.unit.refusals import invalid

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TOMORROW = NOW + timedelta(days=1)
OFFER = NewOffer(
    title="10% off bread",
    description="",
    discount_rate=Decimal("0.10"),
    price_cents=None,
    valid_from=NOW,
    valid_until=TOMORROW,
    max_redemptions=None,
    terms=None,
)
ONE_OF = ("discount_rate", "give either discount_rate or price_cents, not both or neither")


def test_an_offer_is_published_as_given() -> None:
    assert checked_offer(OFFER, NOW) is OFFER


def test_a_free_item_a_whole_discount_and_a_single_redemption_are_offers() -> None:
    for offer in (
        replace(OFFER, discount_rate=None, price_cents=0),
        replace(OFFER, discount_rate=Decimal(1)),
        replace(OFFER, max_redemptions=1),
    ):
        assert checked_offer(offer, NOW) is offer


def test_a_bad_offer_is_refused_naming_every_field() -> None:
    both = replace(OFFER, discount_rate=Decimal(0), price_cents=-1, valid_until=NOW, max_redemptions=0)
    assert invalid(lambda: checked_offer(both, NOW)) == (
        "the offer is not valid",
        [
            ONE_OF,
            ("discount_rate", "must be more than 0 and at most 1 (a share of the price)"),
            ("price_cents", "must not be negative"),
            ("valid_until", "must be after valid_from"),
            ("max_redemptions", "must be at least 1 when given"),
        ],
    )
    over = replace(OFFER, discount_rate=None, valid_from=NOW - timedelta(days=2))
    assert invalid(lambda: checked_offer(over, TOMORROW)) == (
        "the offer is not valid",
        [ONE_OF, ("valid_until", "is already past: the offer would never run")],
    )


def test_an_offer_runs_from_its_first_moment_up_to_its_end() -> None:
    assert [is_current(NOW, TOMORROW, t) for t in (NOW - timedelta(microseconds=1), NOW, TOMORROW)] == [
        False,
        True,
        False,
    ]


def test_a_refused_claim_says_when_the_offer_runs_or_how_many_it_had() -> None:
    window = OfferWindow(NOW, TOMORROW, max_redemptions=2, claimed=2)
    refusals = [claim_refusal(window, t) for t in (NOW - timedelta(seconds=1), TOMORROW, NOW)]
    assert [(r.detail, r.code) if r else None for r in refusals] == [
        ("the offer is valid from 2026-12-01T12:00:00+00:00", "offer_not_yet_valid"),
        ("the offer expired at 2026-12-02T12:00:00+00:00", "offer_expired"),
        ("all 2 redemptions of the offer are taken", "offer_cap_reached"),
    ]
