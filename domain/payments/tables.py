"""Payouts: cash the co-op owes a member, from approval until paid (or void)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class Payout(SQLModel, table=True):
    """One payout instruction; every change of its status is also a ledger entry."""

    __tablename__ = "payout"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('patronage_cash','equity_redemption','share_redemption','preferred_dividend')", name="kind"
        ),
        sa.CheckConstraint("status IN ('pending','paid','failed','void','unclaimed')", name="status"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, index=True)  # member.id, checked per statement (0033)
    kind: str = Field(max_length=24)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    status: str = Field(default="pending", max_length=16, index=True)
    method: str | None = Field(default=None, max_length=24)
    reference: str | None = Field(default=None, max_length=200)
    business_key: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    paid_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class PayoutEvent(SQLModel, table=True):
    """One change of a payout's status, with who, why, the reference and the ledger entry (if money moved)."""

    __tablename__ = "payout_event"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    payout_id: int = Field(sa_type=sa.BigInteger, foreign_key="payout.id", index=True)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    reference: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=500)
    amount_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    entry_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="journal_entry.id")
    actor_user_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    occurred_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class StripeCustomer(SQLModel, table=True):
    """A member's one Stripe customer, and how many card set-ups it started (each set-up's key)."""

    __tablename__ = "stripe_customer"
    __table_args__ = (sa.CheckConstraint("setups >= 0", name="setups_not_negative"),)

    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True)
    customer_id: str = Field(max_length=255, unique=True)
    setups: int = Field(default=0)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class CardHold(SQLModel, table=True):
    """One card authorization of one version of an order; a changed order gets a new version.

    The newest version is the order's payment; older ones are cancelled (``voided``).
    """

    __tablename__ = "card_hold"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "version", name="uq_card_hold_order_version"),
        sa.CheckConstraint(
            "status IN ('pending_auth','authorized','auth_failed','captured','voided','partially_refunded','refunded',"
            "'action_required')",
            name="status",
        ),
        sa.CheckConstraint("kind IN ('hold','reauth','charge')", name="kind"),
        sa.CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        sa.CheckConstraint("captured_cents BETWEEN 0 AND amount_cents", name="captured_within_hold"),
        sa.CheckConstraint("refunded_cents BETWEEN 0 AND captured_cents", name="refunded_within_capture"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    order_id: int = Field(sa_type=sa.BigInteger, foreign_key="buy_order.id")
    group_buy_id: int = Field(sa_type=sa.BigInteger, foreign_key="group_buy.id", index=True)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id")
    version: int
    intent_id: str | None = Field(default=None, max_length=255, unique=True)
    status: str = Field(max_length=24)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    captured_cents: int = Field(default=0, sa_type=sa.BigInteger)
    refunded_cents: int = Field(default=0, sa_type=sa.BigInteger)
    failure: str = Field(default="", max_length=500)
    # What the member's browser needs to finish 3-D Secure while the hold waits for it.
    client_secret: str | None = Field(default=None, max_length=255)
    # When the card network lets the authorization lapse: re-authorize or charge before then.
    capture_before: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    kind: str = Field(default="hold", max_length=8, sa_column_kwargs={"server_default": "hold"})
    # Until when the member may finish an off-session payment the card asked them to confirm.
    action_deadline: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class StripeEvent(SQLModel, table=True):
    """A webhook event, stored once by its id: a replay finds it and changes nothing."""

    __tablename__ = "stripe_event"

    id: str = Field(max_length=255, primary_key=True)
    type: str = Field(max_length=100)
    object_id: str | None = Field(default=None, max_length=255)
    received_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    handled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class SupplierStripeAccount(SQLModel, table=True):
    """A supplier's Stripe connected account: with Connect configured, its payables are paid by transfer."""

    __tablename__ = "supplier_stripe_account"

    supplier_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier.id", primary_key=True)
    account_id: str = Field(max_length=255)
    updated_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class ShareCardPayment(SQLModel, table=True):
    """A member paying its membership share (or an instalment) by saved card: an automatic-capture PaymentIntent.

    The share is credited only when Stripe says the payment succeeded (``payment_intent.succeeded``,
    by webhook or read back), once: ``credited_entry_id`` is set in the same statement that moves it.
    """

    __tablename__ = "share_card_payment"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending','succeeded','failed','unapplied')", name="status"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    status: str = Field(default="pending", max_length=16)
    intent_id: str | None = Field(default=None, max_length=255, unique=True)
    client_secret: str | None = Field(default=None, max_length=255)
    failure: str = Field(default="", max_length=500)
    credited_entry_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="journal_entry.id")
    requested_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class StripeReplayMark(SQLModel, table=True):
    """Up to when missed Stripe events were last replayed (one row per feed; the replay locks it)."""

    __tablename__ = "stripe_replay_mark"

    name: str = Field(max_length=50, primary_key=True)
    replayed_until: datetime = Field(sa_type=sa.DateTime(timezone=True))
