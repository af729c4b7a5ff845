"""What a Stripe event moves a card hold to: forward only, so a late, replayed or out-of-order event does nothing."""

from __future__ import annotations

import pytest

from domain.payments.rules import CARD_TRANSITIONS, EVENT_TARGETS, CardStatus, event_move


@pytest.mark.parametrize(
    ("event_type", "current", "moved"),
    [
        ("payment_intent.amount_capturable_updated", CardStatus.PENDING_AUTH, CardStatus.AUTHORIZED),
        ("payment_intent.amount_capturable_updated", CardStatus.AUTH_FAILED, CardStatus.AUTHORIZED),  # a retry
        ("payment_intent.payment_failed", CardStatus.PENDING_AUTH, CardStatus.AUTH_FAILED),
        ("payment_intent.canceled", CardStatus.AUTHORIZED, CardStatus.VOIDED),
        ("payment_intent.amount_capturable_updated", CardStatus.CAPTURED, None),  # late: never back
        ("payment_intent.payment_failed", CardStatus.AUTHORIZED, None),  # out of order
        ("payment_intent.canceled", CardStatus.VOIDED, None),  # replayed
        ("payment_intent.succeeded", CardStatus.AUTHORIZED, None),  # the capture job records captures
        ("charge.refunded", CardStatus.CAPTURED, None),
    ],
)
def test_an_event_moves_a_hold_only_forward(event_type: str, current: CardStatus, moved: CardStatus | None) -> None:
    assert event_move(event_type, current) is moved


@pytest.mark.parametrize("current", list(CardStatus))
@pytest.mark.parametrize("event_type", sorted(EVENT_TARGETS))
def test_every_event_follows_the_card_table(event_type: str, current: CardStatus) -> None:
    target = EVENT_TARGETS[event_type]
    assert event_move(event_type, current) is (target if target in CARD_TRANSITIONS[current] else None)
