"""Suppliers paid by Stripe Connect after a card-mode buy settles: one transfer, booked once, never also by hand.

localstripe has no Connect (``POST /v1/transfers`` answers 404), so the transfer goes through the
real SDK into a recording HTTP client (tests/support/recording_stripe.py) that checks the request
and answers Stripe's Transfer object; every other call of the buy runs on localstripe.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from domain.buying import supplier_transfers
from domain.buying.purchase_orders import SupplierPaid, purchase_order_views
from domain.buying.tables import GroupBuy
from domain.db import utc_now
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.payments.stripe_gateway import StripeGateway
from tests.support.buying import make_supplier, supplier_headers
from tests.support.cards import card_buy, card_member, line
from tests.support.recording_stripe import RecordingHTTPClient, reversal_answer, transfer_answer
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings

ACCOUNT = "acct_1SupplierConnect"


async def test_a_settled_card_buy_pays_its_supplier_by_one_transfer_booked_once(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    localstripe_url: str,
) -> None:
    _, headers = await card_member(stripe_client, session, raw, "Transfer Shop")
    # 1,000 cents a unit at the supplier's price, 25 % markup: members pay 1,250, the supplier is owed 1,000.
    gb, product, staff = await card_buy(stripe_client, session, markup="0.25")
    supplier = gb["supplier_id"]
    settings_url = f"/v1/suppliers/{supplier}/payment-settings"
    put = await stripe_client.put(settings_url, json={"stripe_account_id": ACCOUNT}, headers=staff)
    assert put.status_code == 200, put.text
    assert put.json() == {"supplier_id": supplier, "stripe_account_id": ACCOUNT}
    placed = await stripe_client.post(
        f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 3)]}, headers=headers
    )
    assert placed.status_code == 201, placed.text
    await run_worker(stripe_settings, session_maker)
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).is_success
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 2}]}  # one short
    assert (await stripe_client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).is_success
    await run_worker(stripe_settings, session_maker)  # captures; Connect is not configured there: no transfer

    http = RecordingHTTPClient({("POST", "/v1/transfers"): transfer_answer})
    gateway = StripeGateway("sk_test_localstripe", api_base=localstripe_url, localstripe=True, http_client=http)
    payload = {"group_buy_id": int(gb["id"])}
    sent = await supplier_transfers.run_transfer(
        session, gateway, payload, currency="USD", connect=False, now=utc_now()
    )
    assert (sent, http.requests) == (None, [])  # without Connect, staff pay by hand as before
    for _ in range(2):  # a repeated job transfers and books once
        await supplier_transfers.run_transfer(session, gateway, payload, currency="USD", connect=True, now=utc_now())
    await gateway.aclose()
    await session.commit()

    [request] = http.requests
    assert request.path == "/v1/transfers"
    assert request.idempotency_key == f"transfer:{gb['id']}:{supplier}"
    assert request.params == {
        "amount": "2000",  # two delivered units at the supplier's price, without the co-op's markup
        "currency": "usd",
        "destination": ACCOUNT,
        "transfer_group": f"gb_{gb['id']}",
        "metadata[group_buy_id]": gb["id"],
        "metadata[purchase_order]": request.params["metadata[purchase_order]"],
    }
    assert await ledger.balance_of(session, chart.supplier_payable(int(supplier))) == 0
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 2 * 1_250 - 2_000

    by_hand = await stripe_client.post(
        f"/v1/purchase-orders/{gb['id']}/payments", json={"amount_cents": 1, "method": "check"}, headers=staff
    )
    assert by_hand.status_code == 409, by_hand.text  # paid by transfer: nothing left to pay by hand
    today = datetime.now(UTC).date()
    period = {"period_from": (today - timedelta(days=1)).isoformat(), "period_to": today.isoformat()}
    report = (await stripe_client.get("/v1/payments/card-reconciliation", params=period, headers=staff)).json()
    assert (report["captured_cents"], report["transferred_cents"], report["difference_cents"]) == (2_500, 2_000, 0)

    # A bag turns out torn: the member is refunded one unit and the transfer's overpaid 1,000 is taken back.
    correction = {"lines": [{"product_id": str(product), "delivered_quantity": 1}], "reason": "one bag torn"}
    corrected = await stripe_client.post(f"/v1/group-buys/{gb['id']}/corrections", json=correction, headers=staff)
    assert corrected.status_code == 201, corrected.text
    await run_worker(stripe_settings, session_maker)  # the refund; Connect is not configured there: no reversal
    transfer_id = f"tr_gb_{gb['id']}_2000"
    http = RecordingHTTPClient({("POST", f"/v1/transfers/{transfer_id}/reversals"): reversal_answer})
    gateway = StripeGateway("sk_test_localstripe", api_base=localstripe_url, localstripe=True, http_client=http)
    undo = {"group_buy_id": int(gb["id"]), "correction_id": int(corrected.json()["id"])}
    for _ in range(2):  # a repeated job takes back and books once
        await supplier_transfers.run_reversal(session, gateway, undo, connect=True, now=utc_now())
    await gateway.aclose()
    await session.commit()

    [reversal] = http.requests
    assert (reversal.idempotency_key, reversal.params) == (
        f"transfer_reversal:{gb['id']}:{undo['correction_id']}",
        {"amount": "1000"},
    )
    assert await ledger.balance_of(session, chart.supplier_payable(int(supplier))) == 0
    assert await ledger.balance_of(session, chart.CARD_CLEARING) == 2_500 - 2_000 - 1_250 + 1_000
    shown = (await stripe_client.get(f"/v1/purchase-orders/{gb['id']}", headers=staff)).json()
    assert (shown["payable_cents"], shown["paid_cents"]) == (1_000, 1_000)
    # The job and the purchase order read what is still transferred from the same figures.
    [view] = await purchase_order_views(session, [await session.get_one(GroupBuy, int(gb["id"]))])
    assert view.paid == SupplierPaid(by_hand_cents=0, transferred_cents=2_000, reversed_cents=1_000)
    assert (view.paid.still_transferred_cents, view.paid_cents) == (1_000, 1_000)
    report = (await stripe_client.get("/v1/payments/card-reconciliation", params=period, headers=staff)).json()
    assert (report["transferred_cents"], report["refunded_cents"], report["difference_cents"]) == (1_000, 1_250, 0)


async def test_only_staff_set_a_suppliers_connected_account_and_it_must_look_like_one(
    stripe_client: httpx.AsyncClient, session: AsyncSession, raw: stripe.StripeClient
) -> None:
    _, member = await card_member(stripe_client, session, raw, "Nosy Shop")
    gb, _, staff = await card_buy(stripe_client, session)
    url = f"/v1/suppliers/{gb['supplier_id']}/payment-settings"
    own = await supplier_headers(stripe_client, session, int(gb["supplier_id"]))
    other = await supplier_headers(stripe_client, session, (await make_supplier(session, "Other Mill")).id)

    for bad in ("1234", "acct_", "acct_12 34", "ba_123"):
        refused = await stripe_client.put(url, json={"stripe_account_id": bad}, headers=staff)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["errors"][0]["field"] == "stripe_account_id"
    assert (await stripe_client.get(url, headers=own)).json()["stripe_account_id"] is None
    for caller in (own, member):
        assert (await stripe_client.put(url, json={"stripe_account_id": ACCOUNT}, headers=caller)).status_code == 403
    assert (await stripe_client.get(url, headers=member)).status_code == 403
    assert (await stripe_client.get(url, headers=other)).status_code == 404
    unknown = "/v1/suppliers/999999999/payment-settings"
    assert (await stripe_client.put(unknown, json={"stripe_account_id": ACCOUNT}, headers=staff)).status_code == 404
    assert (await stripe_client.put(url, json={"stripe_account_id": ACCOUNT}, headers=staff)).status_code == 200
    assert (await stripe_client.get(url, headers=own)).json()["stripe_account_id"] == ACCOUNT
