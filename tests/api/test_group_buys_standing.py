"""A member's standing governs every write its users make to orders (issue 8, item 1).

Suspended members may only withdraw; expelled and former members may do nothing, and
leaving cancels their open orders in open buys (members told through the outbox), so
settlement charges them nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from domain.buying import closing, orders, settlement
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.buying.tables import BuyOrder, OrderLine
from domain.departures import service as departures
from domain.errors import ConflictError
from domain.jobs.tables import OutboxJob
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership import service as membership
from domain.membership.rules import Status
from tests.support.buying import (
    group_buy_body,
    make_product,
    make_supplier,
    ordering_member,
    staff_headers,
)
from tests.support.users import make_member

STANDING = "member_not_in_good_standing"


async def _buy(session, product_ids: list[int] | None = None) -> tuple[int, int]:
    """An open buy of one product (cases of 1, 5.00 each); returns (group buy id, product id)."""
    mill = await make_supplier(session)
    product = await make_product(session, mill.id, tiers=[(1, 500)])
    now = datetime.now(UTC)
    group_buy = await buying.create_group_buy(
        session,
        buying.NewGroupBuy(mill.id or 0, "Flour", now + timedelta(days=1), tuple(product_ids or [product])),
        now=now,
        actor=0,
    )
    await session.commit()
    return group_buy.id or 0, product


async def _ordering(session) -> int:
    member = await make_member(session)
    await membership.admit(session, member.id or 0, probation_days=0, now=datetime.now(UTC), actor=0)
    member.status = Status.FULL.value  # the share is not what these tests are about
    session.add(member)
    await session.commit()
    return member.id or 0


async def _leave(session, member_id: int, status: Status) -> None:
    now = datetime.now(UTC)
    if status is Status.FORMER:
        await departures.withdraw(session, member_id, effective_on=None, now=now, actor=0)
    else:
        await departures.change_standing(session, member_id, status, reason="tests", now=now, actor=0)
    await session.commit()


async def _lines(session, order_id: int) -> list[tuple[int, int, int]]:
    rows = (await session.exec(select(OrderLine).where(col(OrderLine.order_id) == order_id))).all()
    return sorted((ln.product_id, ln.quantity, ln.flex_quantity) for ln in rows)


@pytest.mark.parametrize("status", [Status.SUSPENDED, Status.EXPELLED, Status.FORMER])
async def test_no_member_out_of_good_standing_places_changes_or_reopens(session, status):
    gid, product = await _buy(session)
    member_id = await _ordering(session)
    placed = await orders.place_order(
        session, gid, member_id=member_id, lines=[LineRequest(product, 2)], now=datetime.now(UTC), actor=0
    )
    await session.commit()
    order_id = placed.order.id or 0
    await _leave(session, member_id, status)
    before = await _lines(session, order_id)
    now = datetime.now(UTC)

    with pytest.raises(ConflictError) as raised:
        await orders.change_order(session, order_id, lines=[LineRequest(product, 50)], now=now)
    assert raised.value.code == STANDING
    await session.rollback()
    assert await _lines(session, order_id) == before

    # A second buy: a new order is refused as well.
    other, other_product = await _buy(session)
    with pytest.raises(ConflictError) as raised:
        await orders.place_order(
            session, other, member_id=member_id, lines=[LineRequest(other_product, 1)], now=now, actor=0
        )
    assert raised.value.code == STANDING
    await session.rollback()

    # A cancelled order cannot come back either.
    order = await session.get(BuyOrder, order_id)
    assert order is not None
    if order.status != "cancelled":  # suspension keeps the order; the member may withdraw it
        await orders.cancel_order(session, order_id, now=now, only_member_id=member_id)
        await session.commit()
    with pytest.raises(ConflictError) as raised:
        await orders.change_order(session, order_id, lines=[LineRequest(product, 3)], now=now, only_member_id=member_id)
    assert raised.value.code == STANDING
    await session.rollback()
    await session.refresh(order)
    assert order.status == "cancelled"


@pytest.mark.parametrize("status", [Status.EXPELLED, Status.FORMER])
async def test_members_who_left_may_not_even_cancel(session, status):
    gid, product = await _buy(session)
    member_id = await _ordering(session)
    placed = await orders.place_order(
        session, gid, member_id=member_id, lines=[LineRequest(product, 2)], now=datetime.now(UTC), actor=0
    )
    await session.commit()
    await _leave(session, member_id, status)
    with pytest.raises(ConflictError) as raised:
        await orders.cancel_order(session, placed.order.id or 0, now=datetime.now(UTC), only_member_id=member_id)
    assert raised.value.code == STANDING


async def test_a_suspended_member_may_withdraw_its_open_order_which_otherwise_stays(session):
    gid, product = await _buy(session)
    member_id = await _ordering(session)
    placed = await orders.place_order(
        session, gid, member_id=member_id, lines=[LineRequest(product, 2)], now=datetime.now(UTC), actor=0
    )
    await session.commit()
    await _leave(session, member_id, Status.SUSPENDED)
    order = await session.get(BuyOrder, placed.order.id)
    assert order is not None
    assert order.status == "open"  # suspension freezes the order; it does not cancel it
    cancelled = await orders.cancel_order(session, order.id or 0, now=datetime.now(UTC), only_member_id=member_id)
    assert cancelled.order.status == "cancelled"


@pytest.mark.parametrize("status", [Status.EXPELLED, Status.FORMER])
async def test_leaving_cancels_open_orders_with_notice_and_nothing_is_charged(session, status):
    gid, product = await _buy(session)
    leaver = await _ordering(session)
    stayer = await _ordering(session)
    now = datetime.now(UTC)
    left_order = await orders.place_order(
        session, gid, member_id=leaver, lines=[LineRequest(product, 2)], now=now, actor=0
    )
    await orders.place_order(session, gid, member_id=stayer, lines=[LineRequest(product, 3)], now=now, actor=0)
    await session.commit()

    await _leave(session, leaver, status)

    order = await session.get(BuyOrder, left_order.order.id)
    assert order is not None
    await session.refresh(order)
    assert order.status == "cancelled"
    assert await _lines(session, order.id or 0) == []
    notices = (
        await session.exec(
            select(OutboxJob.payload).where(col(OutboxJob.business_key) == f"notify:order:{order.id}:member_left")
        )
    ).all()
    assert [(n["event"], n["audience"]) for n in notices] == [("order.cancelled", f"member:{leaver}")]
    view = await buying.get_group_buy(session, gid)
    assert (view.items[0].quantity, view.items[0].flex_quantity) == (3, 0)

    await closing.close_group_buy(session, gid, now=datetime.now(UTC))
    await settlement.record_delivery(session, gid, [settlement.DeliveryLine(product, 3)], now=datetime.now(UTC))
    await settlement.settle(session, gid, now=datetime.now(UTC), fiscal_year_start_month=1)
    await session.commit()
    assert await ledger.balance_of(session, chart.member_trade(stayer)) == 1_500
    charges = await ledger.statement(session, chart.member_trade(leaver))
    assert [line.kind for line in charges if line.kind == "group_buy_charge"] == []


async def test_the_api_answers_409_problem_json_with_a_code(client, session):
    mill = await make_supplier(session)
    product = await make_product(session, mill.id)
    staff = await staff_headers(client, session)
    gb = (await client.post("/v1/group-buys", json=group_buy_body(mill.id, [product]), headers=staff)).json()
    member, headers = await ordering_member(client, session)
    body: dict[str, Any] = {"lines": [{"product_id": str(product), "quantity": 2}]}
    placed = await client.post(f"/v1/group-buys/{gb['id']}/orders", json=body, headers=headers)
    assert placed.status_code == 201, placed.text
    url = f"/v1/orders/{placed.json()['id']}"
    member.status = Status.FULL.value  # only full members can be suspended; the share is not the point here
    session.add(member)
    await session.commit()
    suspended = await client.post(f"/v1/members/{member.id}/suspend", json={"reason": "unpaid"}, headers=staff)
    assert suspended.status_code == 200, suspended.text
    order = (await client.get(url, headers=headers)).json()
    raised = await client.put(url, json={"lines": [{"product_id": str(product), "quantity": 50}]}, headers=headers)
    assert raised.status_code == 409
    assert raised.headers["content-type"].startswith("application/problem+json")
    assert raised.json()["code"] == STANDING
    assert (await client.get(url, headers=headers)).json() == order

    # Expelled: the member's users are signed out for good, and the open order is cancelled.
    expelled = await client.post(f"/v1/members/{member.id}/expel", json={"reason": "unpaid"}, headers=staff)
    assert expelled.status_code == 200, expelled.text
    assert (await client.get(url, headers=headers)).status_code == 401
    seen_by_staff = (await client.get(url, headers=staff)).json()
    assert (seen_by_staff["status"], seen_by_staff["lines"]) == ("cancelled", [])
