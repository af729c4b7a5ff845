"""Events (issue 16): capacity, a waitlist promoted on a cancellation, fees on the trade account, the feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from domain.identity.rules import MemberRole
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership.rules import Status
from domain.network.events import EVENT_FEES
from tests.api.test_network_directory import _headers, _member
from tests.support.buying import staff_headers


def _moment(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def _event(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Pricing workshop",
        "starts_at": _moment(timedelta(days=7)),
        "ends_at": _moment(timedelta(days=7, hours=2)),
        "place": "Co-op hall, 12 Main St",
        "capacity": 4,
        "member_price_cents": 2_500,
        "nonmember_price_cents": 4_000,
    }
    return {**body, **changes}


def _people(n: int, tag: str) -> dict[str, Any]:
    return {"attendees": [{"name": f"{tag} {i}", "email": f"{tag.lower()}{i}@shop.test"} for i in range(n)]}


async def _trade(session, member_id: int) -> int:
    return await ledger.balance_of(session, chart.member_trade(member_id))


async def test_an_event_fills_then_a_cancellation_promotes_the_waitlist_full_members_first(client, session):
    staff = await staff_headers(client, session)
    made = await client.post("/v1/events", json=_event(), headers=staff)
    assert made.status_code == 201, made.text
    event = made.json()["id"]
    url = f"/v1/events/{event}/registrations"

    a_id = await _member(session, "Alpha Bakery")
    a = await _headers(client, session, a_id)
    e = await _headers(client, session, await _member(session, "Epsilon Shop"))
    b_id = await _member(session, "Beta Deli")
    b = await _headers(client, session, b_id)
    c_id = await _member(session, "Gamma Grocer", Status.PROBATIONARY)
    c = await _headers(client, session, c_id)
    d_id = await _member(session, "Delta Cafe")
    d = await _headers(client, session, d_id)

    first = await client.post(url, json=_people(3, "Alpha"), headers=a)
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["fee_cents"]) == ("confirmed", 7_500)
    last_seat = await client.post(url, json=_people(1, "Epsilon"), headers=e)
    assert (last_seat.json()["status"], last_seat.json()["fee_cents"]) == ("confirmed", 2_500)
    for headers, people in ((b, _people(2, "Beta")), (c, _people(1, "Gamma")), (d, _people(1, "Delta"))):
        waiting = await client.post(url, json=people, headers=headers)
        assert waiting.status_code == 201, waiting.text
        assert (waiting.json()["status"], waiting.json()["fee_cents"]) == ("waitlisted", 0)
    again = await client.post(url, json=_people(1, "Alpha"), headers=a)
    assert (again.status_code, again.json().get("code")) == (409, "already_registered")
    assert await _trade(session, a_id) == 7_500

    [listed] = (await client.get("/v1/events", headers=d)).json()["items"]
    assert (listed["capacity"], listed["taken"]) == (4, 4)

    cancelled = await client.post(f"{url}/{first.json()['id']}/cancel", headers=a)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await _trade(session, a_id) == 0  # the fee reversed to the cent

    # Three seats free: Beta (full, 2) and Delta (full, 1) go before Gamma (probationary), who came earlier.
    everyone = {r["member_id"]: r for r in (await client.get(url, headers=staff)).json()}
    assert {m: r["status"] for m, r in everyone.items() if m != str(a_id)} == {
        everyone[str(b_id)]["member_id"]: "confirmed",
        str(c_id): "waitlisted",
        str(d_id): "confirmed",
        next(m for m in everyone if m not in {str(a_id), str(b_id), str(c_id), str(d_id)}): "confirmed",
    }
    assert (everyone[str(b_id)]["fee_cents"], everyone[str(d_id)]["fee_cents"]) == (5_000, 2_500)
    assert await _trade(session, b_id) == 5_000
    assert await _trade(session, c_id) == 0
    assert await _trade(session, d_id) == 2_500
    [listed] = (await client.get("/v1/events", headers=d)).json()["items"]
    assert listed["taken"] == 4  # 1 + 2 + 1: never past the capacity
    assert await ledger.balance_of(session, EVENT_FEES) == 10_000  # 2 500 + 5 000 + 2 500 kept
    own = (await client.get(url, headers=b)).json()
    assert [r["member_id"] for r in own] == [str(b_id)]  # a member sees its own registration only


async def test_cancellations_close_at_the_deadline_and_others_registrations_are_not_found(client, session):
    staff = await staff_headers(client, session)
    soon = _event(cancellation_deadline=_moment(timedelta(seconds=-1)))
    event = (await client.post("/v1/events", json=soon, headers=staff)).json()["id"]
    member_id = await _member(session, "Late Bakery")
    headers = await _headers(client, session, member_id)
    registered = await client.post(f"/v1/events/{event}/registrations", json=_people(1, "Late"), headers=headers)
    assert registered.status_code == 201, registered.text
    other = await _headers(client, session, await _member(session, "Nosy Deli"))
    cancel_url = f"/v1/events/{event}/registrations/{registered.json()['id']}/cancel"
    assert (await client.post(cancel_url, headers=other)).status_code == 404
    refused = await client.post(cancel_url, headers=headers)
    assert (refused.status_code, refused.json().get("code")) == (409, "cancellation_deadline_passed")
    assert await _trade(session, member_id) == 2_500


async def test_a_suspended_member_cannot_register(client, session):
    staff = await staff_headers(client, session)
    event = (await client.post("/v1/events", json=_event(), headers=staff)).json()["id"]
    member_id = await _member(session, "Suspended Bakery", Status.SUSPENDED)
    headers = await _headers(client, session, member_id)
    refused = await client.post(f"/v1/events/{event}/registrations", json=_people(1, "S"), headers=headers)
    assert (refused.status_code, refused.json().get("code")) == (409, "member_not_in_good_standing")


async def test_only_staff_and_member_admins_create_events_and_a_bad_event_names_the_field(client, session):
    member = await _headers(client, session, await _member(session, "Eager Bakery"), MemberRole.BUYER)
    assert (await client.post("/v1/events", json=_event(), headers=member)).status_code == 403
    staff = await staff_headers(client, session)
    for body, field in (
        (_event(place=None), "place"),
        (_event(starts_at=_moment(-timedelta(days=1))), "starts_at"),
        (_event(ends_at=_moment(timedelta(days=6))), "ends_at"),
        (_event(capacity=0), "capacity"),
        (_event(cancellation_deadline=_moment(timedelta(days=8))), "cancellation_deadline"),
    ):
        answer = await client.post("/v1/events", json=body, headers=staff)
        assert answer.status_code == 400, answer.text
        assert field in [e["field"] for e in answer.json()["errors"]], (field, answer.text)


async def test_the_calendar_feed_lists_upcoming_events(client, session):
    staff = await staff_headers(client, session)
    body = _event(title="Bread, butter; and more", place=None, online_url="https://meet.test/bread")
    assert (await client.post("/v1/events", json=body, headers=staff)).status_code == 201
    member = await _headers(client, session, await _member(session, "Calendar Cafe"))
    feed = await client.get("/v1/events.ics", headers=member)
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("text/calendar")
    assert feed.text.startswith("BEGIN:VCALENDAR\r\n")
    assert "SUMMARY:Bread\\, butter\\; and more\r\n" in feed.text
    assert "URL:https://meet.test/bread\r\n" in feed.text
    assert (await client.get("/v1/events.ics")).status_code == 401


async def test_staff_record_attendance_of_confirmed_registrations_only_after_the_start(client, session):
    staff = await staff_headers(client, session)
    event = (await client.post("/v1/events", json=_event(capacity=1), headers=staff)).json()["id"]
    url = f"/v1/events/{event}/registrations"
    member = await _headers(client, session, await _member(session, "Present Bakery"))
    seated = (await client.post(url, json=_people(1, "P"), headers=member)).json()
    assert seated["attendance"] is None
    waiting = (
        await client.post(
            url, json=_people(1, "W"), headers=await _headers(client, session, await _member(session, "Queue Deli"))
        )
    ).json()
    mark = f"{url}/{seated['id']}/attendance"
    early = await client.put(mark, json={"attendance": "attended"}, headers=staff)
    assert (early.status_code, early.json().get("code")) == (409, "event_not_started")
    await session.execute(
        sa.text(
            "UPDATE network_event SET starts_at = now() - interval '1 hour',"
            " cancellation_deadline = now() - interval '2 hours' WHERE id = :id"
        ),
        {"id": int(event)},
    )
    await session.commit()
    assert (await client.put(mark, json={"attendance": "attended"}, headers=member)).status_code == 403
    bad = await client.put(mark, json={"attendance": "maybe"}, headers=staff)
    assert bad.status_code == 400, bad.text
    for value in ("no_show", "attended"):  # staff may correct a mark
        done = await client.put(mark, json={"attendance": value}, headers=staff)
        assert (done.status_code, done.json()["attendance"]) == (200, value), done.text
    unseated = await client.put(f"{url}/{waiting['id']}/attendance", json={"attendance": "no_show"}, headers=staff)
    assert (unseated.status_code, unseated.json().get("code")) == (409, "registration_not_confirmed")


async def test_a_full_members_admin_proposes_an_event_and_staff_approve_or_decline_it(client, session):
    staff = await staff_headers(client, session)
    proposer_id = await _member(session, "Host Bakery")
    proposer = await _headers(client, session, proposer_id)
    other = await _headers(client, session, await _member(session, "Guest Deli"))
    clerk = await _headers(client, session, proposer_id, MemberRole.BUYER)
    assert (await client.post("/v1/events", json=_event(), headers=clerk)).status_code == 403
    new = await _headers(client, session, await _member(session, "New Shop", Status.PROBATIONARY))
    early = await client.post("/v1/events", json=_event(), headers=new)
    assert (early.status_code, early.json().get("code")) == (409, "member_not_full")

    proposed = await client.post("/v1/events", json=_event(title="Sourdough class"), headers=proposer)
    assert proposed.status_code == 201, proposed.text
    assert (proposed.json()["status"], proposed.json()["proposed_by_member_id"]) == ("proposed", str(proposer_id))
    event = proposed.json()["id"]
    assert event not in [e["id"] for e in (await client.get("/v1/events", headers=other)).json()["items"]]
    assert event in [e["id"] for e in (await client.get("/v1/events", headers=proposer)).json()["items"]]
    assert event in [e["id"] for e in (await client.get("/v1/events", headers=staff)).json()["items"]]
    assert "Sourdough class" not in (await client.get("/v1/events.ics", headers=other)).text
    url = f"/v1/events/{event}/registrations"
    unlisted = await client.post(url, json=_people(1, "Early"), headers=other)
    assert (unlisted.status_code, unlisted.json().get("code")) == (409, "event_not_published")
    assert (await client.post(f"/v1/events/{event}/approve", headers=proposer)).status_code == 403

    approved = await client.post(f"/v1/events/{event}/approve", headers=staff)
    assert (approved.status_code, approved.json()["status"]) == (200, "published"), approved.text
    assert event in [e["id"] for e in (await client.get("/v1/events", headers=other)).json()["items"]]
    assert (await client.post(url, json=_people(1, "Now"), headers=other)).status_code == 201
    again = await client.post(f"/v1/events/{event}/decline", headers=staff)
    assert (again.status_code, again.json().get("code")) == (409, "event_transition_refused")

    second = (await client.post("/v1/events", json=_event(), headers=proposer)).json()["id"]
    declined = await client.post(f"/v1/events/{second}/decline", headers=staff)
    assert (declined.status_code, declined.json()["status"]) == (200, "declined"), declined.text
    refused = await client.post(f"/v1/events/{second}/registrations", json=_people(1, "Late"), headers=other)
    assert (refused.status_code, refused.json().get("code")) == (409, "event_not_published")


async def test_staff_register_non_members_at_their_price_owed_and_members_keep_priority(client, session):
    staff = await staff_headers(client, session)
    event = (await client.post("/v1/events", json=_event(capacity=2), headers=staff)).json()["id"]
    url = f"/v1/events/{event}/registrations"
    guests = f"/v1/events/{event}/guest-registrations"
    a_id = await _member(session, "Anchor Shop")
    a = await _headers(client, session, a_id)
    b_id = await _member(session, "Budding Shop", Status.PROBATIONARY)
    b = await _headers(client, session, b_id)
    seated = (await client.post(url, json=_people(1, "Anchor"), headers=a)).json()

    def guest(n: int) -> dict[str, str]:
        return {"name": f"Guest {n}", "email": f"guest{n}@outside.test", "organisation": f"Outside {n} Ltd"}

    assert (await client.post(guests, json=guest(1), headers=a)).status_code == 403
    first = await client.post(guests, json=guest(1), headers=staff)
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["member_id"], first.json()["organisation"]) == (
        "confirmed",
        None,
        "Outside 1 Ltd",
    )
    assert (first.json()["fee_cents"], first.json()["fee_owed_cents"]) == (4_000, 4_000)
    assert await ledger.balance_of(session, EVENT_FEES) == 2_500  # the guest's fee is owed, not on any trade account
    twice = await client.post(guests, json=guest(1), headers=staff)
    assert (twice.status_code, twice.json().get("code")) == (409, "already_registered")
    waiting_guest = (await client.post(guests, json=guest(2), headers=staff)).json()
    assert waiting_guest["status"] == "waitlisted"
    assert (await client.post(url, json=_people(1, "Budding"), headers=b)).json()["status"] == "waitlisted"

    # A seat frees: the probationary member goes before the guest who waited longer.
    assert (await client.post(f"{url}/{seated['id']}/cancel", headers=a)).status_code == 200
    everyone = {r["id"]: r for r in (await client.get(url, headers=staff)).json()}
    assert everyone[waiting_guest["id"]]["status"] == "waitlisted"
    [budding] = [r for r in everyone.values() if r["member_id"] == str(b_id)]
    assert (budding["status"], budding["fee_cents"], budding["fee_owed_cents"]) == ("confirmed", 2_500, 0)
    assert await _trade(session, b_id) == 2_500
    # The confirmed guest cancels through staff: nothing is owed any more and the next guest is seated.
    gone = await client.post(f"{url}/{first.json()['id']}/cancel", headers=staff)
    assert (gone.status_code, gone.json()["fee_owed_cents"]) == (200, 0), gone.text
    promoted = {r["id"]: r for r in (await client.get(url, headers=staff)).json()}[waiting_guest["id"]]
    assert (promoted["status"], promoted["fee_owed_cents"]) == ("confirmed", 4_000)
    assert [r["member_id"] for r in (await client.get(url, headers=b)).json()] == [str(b_id)]
