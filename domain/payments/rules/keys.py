"""Deterministic idempotency keys, from the domain operation.

A retried job or request sends the same key, so Stripe answers the first call's result instead of
charging twice.
"""

from __future__ import annotations


def customer_key(member_id: int) -> str:
    """The one Stripe customer of a member."""
    return f"customer:{member_id}"


def setup_key(member_id: int, number: int) -> str:
    """The member's ``number``-th card set-up."""
    return f"setup:{member_id}:{number}"


def hold_key(order_id: int, version: int) -> str:
    """The hold for one version of an order (each change of the order makes a new version)."""
    return f"hold:{order_id}:{version}"


def cancel_key(order_id: int, version: int) -> str:
    """Cancelling the hold of one version of an order."""
    return f"cancel:{order_id}:{version}"


def release_key(order_id: int, version: int) -> str:
    """Releasing a voided hold that Stripe reports authorized after all (its cancel never reached Stripe)."""
    return f"release:{order_id}:{version}"


def reauth_key(order_id: int, version: int) -> str:
    """The off-session renewal of an order's hold, as its version ``version``."""
    return f"reauth:{order_id}:{version}"


def charge_key(order_id: int) -> str:
    """The off-session charge of an order at settlement (once: an order is paid once)."""
    return f"charge:{order_id}"


def capture_key(order_id: int) -> str:
    """An order is captured once, at settlement."""
    return f"capture:{order_id}"


def refund_key(order_id: int, number: int) -> str:
    """The ``number``-th refund of an order's capture."""
    return f"refund:{order_id}:{number}"


def transfer_group(group_buy_id: int) -> str:
    """Every member payment of a group buy shares one transfer group (Connect, separate charges and transfers)."""
    return f"gb_{group_buy_id}"


def transfer_key(group_buy_id: int, supplier_id: int) -> str:
    """A supplier is paid by Connect once per group buy: the transfer and its ledger entry share this key."""
    return f"transfer:{group_buy_id}:{supplier_id}"


def share_key(member_id: int, payment_id: int) -> str:
    """A membership share (or instalment) paid by card: one PaymentIntent per recorded request."""
    return f"share:{member_id}:{payment_id}"
