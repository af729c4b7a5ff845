"""Card holds (PAYMENTS.md): one order's card payment from authorization to capture, void or refund."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import ConflictError


class CardStatus(enum.StrEnum):
    """Where one order's card payment stands (PAYMENTS.md, the state machine)."""

    PENDING_AUTH = "pending_auth"  # asked for; the card has not said yes yet (3DS, or the answer was lost)
    AUTHORIZED = "authorized"
    AUTH_FAILED = "auth_failed"  # declined: the order does not count toward the group's volume
    CAPTURED = "captured"
    VOIDED = "voided"  # cancelled: the order changed or was withdrawn, or nothing was delivered
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    # Off-session (re-authorization or charge at settlement), the card asked for the member:
    # the member has until the grace deadline to finish it on-session, else the order drops out.
    ACTION_REQUIRED = "action_required"


class HoldKind(enum.StrEnum):
    """Why a hold version exists: the order's own (member present), a renewal, or a charge at settlement."""

    HOLD = "hold"  # asked for when the order was placed or changed (confirmed on-session)
    REAUTH = "reauth"  # off-session, before the previous authorization lapses
    CHARGE = "charge"  # off-session, automatic capture, at settlement when the hold had lapsed


# Only forward: a late or replayed event never takes a payment back. An authorization that
# failed can still succeed (the member retries the card); a captured or voided one is final
# but for refunds.
CARD_TRANSITIONS: dict[CardStatus, frozenset[CardStatus]] = {
    CardStatus.PENDING_AUTH: frozenset(
        {
            CardStatus.AUTHORIZED,
            CardStatus.AUTH_FAILED,
            CardStatus.VOIDED,
            CardStatus.ACTION_REQUIRED,
            CardStatus.CAPTURED,  # an off-session charge is captured at once
        }
    ),
    CardStatus.ACTION_REQUIRED: frozenset({CardStatus.AUTHORIZED, CardStatus.CAPTURED, CardStatus.VOIDED}),
    CardStatus.AUTH_FAILED: frozenset({CardStatus.AUTHORIZED, CardStatus.VOIDED}),
    CardStatus.AUTHORIZED: frozenset({CardStatus.CAPTURED, CardStatus.VOIDED}),
    CardStatus.CAPTURED: frozenset({CardStatus.PARTIALLY_REFUNDED, CardStatus.REFUNDED}),
    CardStatus.PARTIALLY_REFUNDED: frozenset({CardStatus.PARTIALLY_REFUNDED, CardStatus.REFUNDED}),
    CardStatus.VOIDED: frozenset(),
    CardStatus.REFUNDED: frozenset(),
}

# The states in which an order's units count toward the group's volume: a declined card does not.
COUNTS_TOWARD_VOLUME = frozenset({CardStatus.PENDING_AUTH, CardStatus.AUTHORIZED})


# How long a card network keeps an authorization when the provider does not say (PAYMENTS.md):
# 7 days for one the member's card gave at order time, 4 days 18 hours for an off-session
# (merchant-initiated) one, the shortest of the networks' windows.
ON_SESSION_WINDOW = timedelta(days=7)
OFF_SESSION_WINDOW = timedelta(days=4, hours=18)


def capture_before(authorized_at: datetime, *, reported: datetime | None, off_session: bool) -> datetime:
    """When the hold lapses: the network's date when reported, else the window's end (never later than reported)."""
    if reported is not None:
        return reported
    return authorized_at + (OFF_SESSION_WINDOW if off_session else ON_SESSION_WINDOW)


def shows_client_secret(status: CardStatus) -> bool:
    """The browser needs the secret only while the hold waits for the member (3-D Secure)."""
    return status in {CardStatus.PENDING_AUTH, CardStatus.ACTION_REQUIRED}


# Renew a hold this long before it lapses, so a failed renewal still leaves the member a
# grace period while the old authorization holds.
REAUTH_MARGIN = timedelta(days=1)
# How long a member has to finish an off-session payment the card asked them to confirm.
ACTION_GRACE = timedelta(hours=48)


def needs_renewal(capture_before: datetime | None, now: datetime) -> bool:
    """An authorized hold is renewed off-session once its lapse is within the margin."""
    return capture_before is not None and capture_before - REAUTH_MARGIN <= now


def lapsed(capture_before: datetime | None, now: datetime) -> bool:
    """The authorization can no longer be captured (an unknown lapse date is taken as still good)."""
    return capture_before is not None and capture_before <= now


def off_session_status(intent_status: str) -> CardStatus:
    """Our status for an off-session PaymentIntent: anything the member must do is ``action_required``."""
    status = hold_status(intent_status)
    return CardStatus.ACTION_REQUIRED if status in {CardStatus.PENDING_AUTH, CardStatus.AUTH_FAILED} else status


class SettleAction(enum.StrEnum):
    """What settlement does with an order's card payment."""

    CANCEL = "cancel"  # nothing owed: release every hold
    CAPTURE = "capture"  # capture the charge from a hold that still holds
    CHARGE = "charge"  # the authorization lapsed: charge the saved card off-session
    RELEASE = "release"  # never authorized: the trade account keeps the charge; release what the card may hold


@dataclass(frozen=True, slots=True)
class HoldState:
    """One hold version as settlement weighs it."""

    id: int
    status: CardStatus
    capture_before: datetime | None


@dataclass(frozen=True, slots=True)
class SettleStep:
    """Settlement's decision for one order: the action, and the hold captured (CAPTURE only)."""

    action: SettleAction
    capture_hold_id: int | None = None


def settle_step(*, charge_cents: int, holds: list[HoldState], now: datetime) -> SettleStep:
    """Capture from the newest authorization still holding; charge off-session if every one lapsed.

    ``holds`` are the order's live (not voided) versions, newest first. Every hold but the
    one captured is released by the caller.
    """
    if charge_cents == 0:
        return SettleStep(SettleAction.CANCEL)
    authorized = [h for h in holds if h.status is CardStatus.AUTHORIZED]
    for hold in authorized:
        if not lapsed(hold.capture_before, now):
            return SettleStep(SettleAction.CAPTURE, hold.id)
    return SettleStep(SettleAction.CHARGE if authorized else SettleAction.RELEASE)


def moves_forward(current: CardStatus, target: CardStatus) -> bool:
    """Whether ``target`` is a step forward from ``current`` (a repeat or a step back is not)."""
    return target in CARD_TRANSITIONS[current]


def hold_status(intent_status: str) -> CardStatus:
    """Our status for a PaymentIntent's status just after it was created and confirmed."""
    return {
        "requires_capture": CardStatus.AUTHORIZED,
        "succeeded": CardStatus.CAPTURED,
        "canceled": CardStatus.VOIDED,
        "requires_payment_method": CardStatus.AUTH_FAILED,
    }.get(intent_status, CardStatus.PENDING_AUTH)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What to do with one order's hold at settlement: capture ``capture_cents``, or cancel when zero."""

    capture_cents: int
    released_cents: int

    @property
    def cancels(self) -> bool:
        """Nothing delivered: the hold is cancelled, never captured for zero."""
        return self.capture_cents == 0


def settle_hold(*, held_cents: int, charge_cents: int) -> Settlement:
    """Capture what the member owes for the delivered units; the rest of the hold is released.

    Prices only fall as the group's volume rises and deliveries only shrink an order, so the
    charge is never above the hold; a charge above it is a bug, never a bill.
    """
    if charge_cents < 0 or held_cents < 0:
        msg = "amounts cannot be negative"
        raise ValueError(msg)
    if charge_cents > held_cents:
        msg = f"the charge {charge_cents} is above the card hold {held_cents}"
        raise ConflictError(msg, code="charge_above_hold")
    return Settlement(charge_cents, held_cents - charge_cents)


def refund_status(*, captured_cents: int, refunded_cents: int) -> CardStatus:
    """The status after refunds totalling ``refunded_cents`` of a capture."""
    if not 0 < refunded_cents <= captured_cents:
        msg = f"refunds of {refunded_cents} do not fit the capture of {captured_cents}"
        raise ConflictError(msg, code="refund_above_capture")
    return CardStatus.REFUNDED if refunded_cents == captured_cents else CardStatus.PARTIALLY_REFUNDED
