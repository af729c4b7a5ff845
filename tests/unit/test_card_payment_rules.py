"""Card payment rules: forward-only states, the capture at settlement, refunds, and the keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ConflictError, InvalidInputError
from domain.payments.rules import (
    CARD_TRANSITIONS,
    DRIFT_SETTLE_TIME,
    EXPECTED_INTENT,
    OFF_SESSION_WINDOW,
    ON_SESSION_WINDOW,
    REAUTH_MARGIN,
    REPLAY_FIRST_LOOKBACK,
    BankPayoutBooking,
    CardStatus,
    HoldKind,
    HoldState,
    SettleAction,
    ShareCardStatus,
    bank_payout_booking,
    books_charge,
    cancel_key,
    capture_before,
    capture_key,
    charge_key,
    drifted,
    hold_key,
    hold_status,
    lapsed,
    moves_forward,
    needs_renewal,
    off_session_status,
    reauth_key,
    reconcile,
    refund_status,
    release_key,
    releases_late_authorization,
    replay_window,
    report_period,
    settle_hold,
    settle_step,
    share_key,
    share_outcome,
    shows_client_secret,
)

cents = st.integers(min_value=0, max_value=10**12)


def test_a_payment_never_moves_back() -> None:
    assert moves_forward(CardStatus.PENDING_AUTH, CardStatus.AUTHORIZED)
    assert moves_forward(CardStatus.AUTHORIZED, CardStatus.CAPTURED)
    assert not moves_forward(CardStatus.CAPTURED, CardStatus.AUTHORIZED)
    assert not moves_forward(CardStatus.AUTHORIZED, CardStatus.PENDING_AUTH)
    assert not moves_forward(CardStatus.VOIDED, CardStatus.CAPTURED)
    assert not moves_forward(CardStatus.AUTHORIZED, CardStatus.AUTHORIZED)  # a replay is no move


def test_final_states_go_nowhere_and_no_state_returns_to_the_start() -> None:
    assert CARD_TRANSITIONS[CardStatus.VOIDED] == frozenset()
    assert CARD_TRANSITIONS[CardStatus.REFUNDED] == frozenset()
    assert all(CardStatus.PENDING_AUTH not in targets for targets in CARD_TRANSITIONS.values())
    assert set(CARD_TRANSITIONS) == set(CardStatus)


@pytest.mark.parametrize(
    ("intent", "status"),
    [
        ("requires_capture", CardStatus.AUTHORIZED),
        ("requires_action", CardStatus.PENDING_AUTH),
        ("requires_confirmation", CardStatus.PENDING_AUTH),
        ("requires_payment_method", CardStatus.AUTH_FAILED),
        ("canceled", CardStatus.VOIDED),
    ],
)
def test_hold_status_reads_the_intent(intent: str, status: CardStatus) -> None:
    assert hold_status(intent) is status


@given(held=cents, charge=cents)
def test_the_capture_and_the_release_make_the_hold(held: int, charge: int) -> None:
    if charge > held:
        with pytest.raises(ConflictError):
            settle_hold(held_cents=held, charge_cents=charge)
        return
    settlement = settle_hold(held_cents=held, charge_cents=charge)
    assert settlement.capture_cents == charge
    assert settlement.capture_cents + settlement.released_cents == held
    assert settlement.cancels == (charge == 0)


def test_nothing_delivered_cancels_the_hold() -> None:
    assert settle_hold(held_cents=4_200, charge_cents=0).cancels
    assert not settle_hold(held_cents=4_200, charge_cents=1).cancels


def test_refunds_up_to_the_capture() -> None:
    assert refund_status(captured_cents=1_000, refunded_cents=1) is CardStatus.PARTIALLY_REFUNDED
    assert refund_status(captured_cents=1_000, refunded_cents=1_000) is CardStatus.REFUNDED
    with pytest.raises(ConflictError):
        refund_status(captured_cents=1_000, refunded_cents=1_001)
    with pytest.raises(ConflictError):
        refund_status(captured_cents=1_000, refunded_cents=0)


def test_keys_come_from_the_operation() -> None:
    assert hold_key(12, 3) == "hold:12:3"
    assert cancel_key(12, 3) == "cancel:12:3"
    assert capture_key(12) == "capture:12"
    assert hold_key(12, 3) != hold_key(12, 4)  # a changed order gets a new hold, never the old answer
    assert release_key(12, 3) == "release:12:3"
    assert release_key(12, 3) != cancel_key(12, 3)  # a cancel Stripe may have answered is never replayed


@pytest.mark.parametrize("status", list(CardStatus))
def test_only_an_authorization_of_a_voided_hold_is_released(status: CardStatus) -> None:
    assert releases_late_authorization("payment_intent.amount_capturable_updated", status) is (
        status is CardStatus.VOIDED
    )
    assert not releases_late_authorization("payment_intent.payment_failed", status)
    assert not releases_late_authorization("payment_intent.succeeded", status)


moments = st.builds(
    lambda seconds: datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds),
    st.integers(min_value=0, max_value=20 * 365 * 86_400),
)


@given(moments, st.none() | moments, st.booleans())
def test_a_hold_lapses_when_the_network_says_else_at_the_end_of_its_window(
    at: datetime, reported: datetime | None, off_session: bool
) -> None:
    lapses = capture_before(at, reported=reported, off_session=off_session)
    if reported is not None:
        assert lapses == reported
    else:
        assert lapses - at == (OFF_SESSION_WINDOW if off_session else ON_SESSION_WINDOW)
    assert OFF_SESSION_WINDOW < ON_SESSION_WINDOW == timedelta(days=7)


@pytest.mark.parametrize("status", list(CardStatus))
def test_the_client_secret_is_shown_only_while_the_member_must_act(status: CardStatus) -> None:
    assert shows_client_secret(status) is (status in {CardStatus.PENDING_AUTH, CardStatus.ACTION_REQUIRED})


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_renewal_comes_within_the_margin_and_a_lapsed_hold_is_not_captured() -> None:
    assert not needs_renewal(None, NOW)  # no lapse date known: nothing to renew
    assert not needs_renewal(NOW + REAUTH_MARGIN + timedelta(seconds=1), NOW)
    assert needs_renewal(NOW + REAUTH_MARGIN, NOW)
    assert not lapsed(None, NOW)
    assert not lapsed(NOW + timedelta(seconds=1), NOW)
    assert lapsed(NOW, NOW)


@pytest.mark.parametrize(
    ("intent", "status"),
    [
        ("requires_capture", CardStatus.AUTHORIZED),
        ("succeeded", CardStatus.CAPTURED),
        ("requires_action", CardStatus.ACTION_REQUIRED),
        ("requires_payment_method", CardStatus.ACTION_REQUIRED),
    ],
)
def test_off_session_anything_for_the_member_is_action_required(intent: str, status: CardStatus) -> None:
    assert off_session_status(intent) is status


def test_renewals_and_charges_have_their_own_keys() -> None:
    assert reauth_key(12, 2) == "reauth:12:2"
    assert charge_key(12) == "charge:12"
    assert len({reauth_key(12, 2), hold_key(12, 2), charge_key(12), capture_key(12)}) == 4


statuses = st.sampled_from([s for s in CardStatus if s is not CardStatus.VOIDED])
hold_states = st.lists(
    st.builds(
        HoldState,
        st.integers(min_value=1, max_value=10**6),
        statuses,
        st.none() | st.integers(min_value=-10, max_value=10).map(lambda h: NOW + timedelta(hours=h)),
    ),
    max_size=5,
)


@given(st.integers(min_value=0, max_value=10**9), hold_states)
def test_settlement_captures_only_a_hold_still_holding(charge: int, holds: list[HoldState]) -> None:
    step = settle_step(charge_cents=charge, holds=holds, now=NOW)
    holding = [h for h in holds if h.status is CardStatus.AUTHORIZED and not lapsed(h.capture_before, NOW)]
    if charge == 0:
        assert step.action is SettleAction.CANCEL
    elif holding:
        assert (step.action, step.capture_hold_id) == (SettleAction.CAPTURE, holding[0].id)  # the newest
    elif any(h.status is CardStatus.AUTHORIZED for h in holds):
        assert step.action is SettleAction.CHARGE
    else:
        assert step.action is SettleAction.RELEASE
    assert (step.capture_hold_id is not None) is (step.action is SettleAction.CAPTURE)


@pytest.mark.parametrize("kind", list(HoldKind))
@pytest.mark.parametrize("status", list(CardStatus))
def test_only_a_charge_still_waiting_is_booked_by_its_success_event(kind: HoldKind, status: CardStatus) -> None:
    waiting = status in {CardStatus.PENDING_AUTH, CardStatus.ACTION_REQUIRED}
    assert books_charge("payment_intent.succeeded", kind, status) is (kind is HoldKind.CHARGE and waiting)
    assert not books_charge("payment_intent.amount_capturable_updated", kind, status)


kinds = st.sampled_from(
    ["card_capture", "card_share", "card_refund", "card_fee", "card_transfer", "card_payout", "receipt"]
)


@given(st.integers(min_value=-(10**9), max_value=10**9), st.dictionaries(kinds, st.integers(-(10**9), 10**9)))
def test_the_clearing_report_explains_every_kind_but_the_unknown_ones(opening: int, moved: dict[str, int]) -> None:
    report = reconcile(opening_cents=opening, moved=moved)
    assert report.closing_cents == opening + sum(moved.values())
    assert report.difference_cents == moved.get("receipt", 0)  # only a kind the report does not name is unexplained
    assert report.captured_cents == moved.get("card_capture", 0) + moved.get("card_share", 0)
    assert report.transferred_cents == -moved.get("card_transfer", 0)
    assert report.fees_cents == -moved.get("card_fee", 0)


def test_a_report_period_is_whole_days_forward_and_at_most_a_year() -> None:
    start, end = report_period(date(2026, 11, 1), date(2026, 11, 30))
    assert (start, end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    for bad in ((date(2026, 11, 2), date(2026, 11, 1)), (date(2025, 1, 1), date(2026, 1, 2)), (date.max, date.max)):
        with pytest.raises(InvalidInputError) as refused:
            report_period(*bad)
        assert [e.field for e in refused.value.errors] == ["period_to"]


def test_drift_is_stripe_disagreeing_with_the_hold() -> None:
    assert set(EXPECTED_INTENT) == set(CardStatus)
    assert not drifted(CardStatus.AUTHORIZED, "requires_capture")
    assert drifted(CardStatus.AUTHORIZED, "canceled")  # a missed cancel, or a lapse
    assert drifted(CardStatus.VOIDED, "requires_capture")  # a release that never reached Stripe
    assert drifted(CardStatus.CAPTURED, "requires_capture")  # a capture whose answer was lost
    assert not drifted(CardStatus.VOIDED, "canceled")


@pytest.mark.parametrize("status", list(ShareCardStatus))
def test_a_share_payment_moves_once_out_of_pending_on_stripes_word(status: ShareCardStatus) -> None:
    pending = status is ShareCardStatus.PENDING
    assert share_outcome(status, event_type="payment_intent.succeeded") == (
        ShareCardStatus.SUCCEEDED if pending else None
    )
    assert share_outcome(status, event_type="payment_intent.payment_failed") == (
        ShareCardStatus.FAILED if pending else None
    )
    assert share_outcome(status, intent_status="succeeded") == (ShareCardStatus.SUCCEEDED if pending else None)
    assert share_outcome(status, event_type="payment_intent.amount_capturable_updated") is None
    assert share_outcome(status, intent_status="processing") is None
    assert share_key(3, 9) == "share:3:9"


@given(moments, st.none() | moments)
def test_replays_reach_back_three_days_first_then_from_the_mark_never_to_the_last_minutes(
    now: datetime, mark: datetime | None
) -> None:
    window = replay_window(mark, now)
    until = now - DRIFT_SETTLE_TIME
    if mark is None:
        assert window == (until - REPLAY_FIRST_LOOKBACK, until)
    elif mark >= until:
        assert window is None
    else:
        assert window == (mark, until)


@pytest.mark.parametrize(
    ("event_type", "status_now", "booked"),
    [
        ("payout.paid", "paid", BankPayoutBooking.PAID),
        ("payout.paid", "pending", None),  # early or forged: Stripe has not paid it
        ("payout.paid", "failed", None),  # late: it failed since; the failed event returns it if it was booked
        ("payout.failed", "failed", BankPayoutBooking.RETURNED),
        ("payout.failed", "paid", None),  # Stripe says paid now: nothing came back
        ("payout.created", "paid", None),
        ("payment_intent.succeeded", "paid", None),
    ],
)
def test_a_payout_event_books_only_what_stripe_says_now(event_type, status_now, booked):
    assert bank_payout_booking(event_type, status_now) is booked


def test_a_report_of_one_day_runs_from_its_midnight_to_the_next() -> None:
    assert report_period(date(2026, 11, 30), date(2026, 11, 30)) == (
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )


def test_a_mark_at_the_settle_time_leaves_nothing_to_replay() -> None:
    # (after, until] with after == until is empty: no window, so no call to Stripe for nothing.
    assert replay_window(NOW - DRIFT_SETTLE_TIME, NOW) is None
    assert replay_window(NOW - DRIFT_SETTLE_TIME - timedelta(microseconds=1), NOW) == (
        NOW - DRIFT_SETTLE_TIME - timedelta(microseconds=1),
        NOW - DRIFT_SETTLE_TIME,
    )
