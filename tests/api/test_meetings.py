"""General meetings over the API (issue 15): the notice period, attendance toward the quorum of the meeting
and of its ballots, and minutes approved at the next meeting, then immutable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from domain.membership.rules import Status
from tests.support.buying import staff_headers
from tests.support.governance import AFTER_RECORD_DATE, begin, meeting_body, resolution_body, voter


async def test_a_meeting_needs_notice_and_attendance_counts_toward_its_quorum_and_its_ballots(client, session):
    staff = await staff_headers(client, session)
    members = [await voter(client, session, f"Meeting Deli {i}") for i in range(10)]
    late, _ = await voter(client, session, "Joined Later", [(Status.FULL, AFTER_RECORD_DATE)])
    ballot = await client.post("/v1/ballots", json=resolution_body(threshold="majority"), headers=staff)
    assert ballot.status_code == 201, ballot.text
    ballot_id = ballot.json()["id"]
    agenda = [{"title": "Minutes"}, {"title": "Amend bylaw 4", "ballot_id": ballot_id}]

    short = await client.post(
        "/v1/meetings",
        json=meeting_body(starts_at=(datetime.now(UTC) + timedelta(days=13)).isoformat(), agenda=agenda),
        headers=staff,
    )
    assert (short.status_code, short.json()["code"]) == (409, "notice_too_short")
    assert (await session.execute(sa.text("SELECT count(*) FROM meeting"))).scalar_one() == 0

    made = await client.post("/v1/meetings", json=meeting_body(agenda=agenda), headers=staff)
    assert made.status_code == 201, made.text
    meeting = made.json()
    assert meeting["agenda"][1] == {"position": 1, "title": "Amend bylaw 4", "ballot_id": ballot_id}
    assert (meeting["eligible"], meeting["quorum_needed"], meeting["quorum_met"]) == (10, 3, False)
    notice = (
        await session.execute(
            sa.text("SELECT payload FROM outbox_job WHERE business_key = :k"),
            {"k": f"notify:meeting:{meeting['id']}:notice"},
        )
    ).scalar_one()
    assert notice["data"]["agenda"] == ["Minutes", "Amend bylaw 4"]
    taken = await client.post("/v1/meetings", json=meeting_body(agenda=agenda), headers=staff)
    assert taken.status_code == 400
    assert {e["field"] for e in taken.json()["errors"]} == {"agenda[1].ballot_id"}

    path = f"/v1/meetings/{meeting['id']}"
    early = await client.post(
        f"{path}/attendance", json={"member_id": str(members[0][0].id), "mode": "online"}, headers=staff
    )
    assert (early.status_code, early.json()["code"]) == (409, "meeting_not_started")
    await begin(session, meeting["id"])
    for (member, _), mode in zip(members[:4], ["in_person", "online", "online", "in_person"], strict=True):
        present = await client.post(
            f"{path}/attendance", json={"member_id": str(member.id), "mode": mode}, headers=staff
        )
        assert present.status_code == 201, present.text
    again = await client.post(
        f"{path}/attendance", json={"member_id": str(members[0][0].id), "mode": "online"}, headers=staff
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_attending")
    not_on_roll = await client.post(
        f"{path}/attendance", json={"member_id": str(late.id), "mode": "online"}, headers=staff
    )
    assert not_on_roll.status_code == 400
    assert {e["field"] for e in not_on_roll.json()["errors"]} == {"member_id"}
    shown = (await client.get(path, headers=members[0][1])).json()
    assert shown["attendance"] == {"in_person": 2, "online": 2, "total": 4}
    assert shown["quorum_met"] is True

    # Two ballots cast (one by a member present), three more members present: five of ten count
    # toward the ballot's quorum of CEIL(0.5 * 10) = 5, where the two ballots alone would miss it.
    for (_, headers), choice in [(members[0], "yes"), (members[9], "no")]:
        cast = await client.post(f"/v1/ballots/{ballot_id}/votes", json={"choice": choice}, headers=headers)
        assert cast.status_code == 201, cast.text
    result = (await client.post(f"/v1/ballots/{ballot_id}/close", headers=staff)).json()["result"]
    assert (result["cast"], result["turnout"], result["quorum_needed"], result["quorum_met"]) == (2, 5, 5, True)


async def test_minutes_are_approved_at_the_next_meeting_and_then_never_change(client, session):
    staff = await staff_headers(client, session)
    first = (await client.post("/v1/meetings", json=meeting_body(), headers=staff)).json()
    path = f"/v1/meetings/{first['id']}"
    early = await client.put(f"{path}/minutes", json={"text": "Opened at 7."}, headers=staff)
    assert (early.status_code, early.json()["code"]) == (409, "meeting_not_started")
    await begin(session, first["id"], ago=timedelta(days=30))
    for text in ("Opened at 7.", "Opened at 7. Closed at 9."):
        recorded = await client.put(f"{path}/minutes", json={"text": text}, headers=staff)
        assert recorded.status_code == 200, recorded.text
    assert recorded.json()["minutes"]["text"] == "Opened at 7. Closed at 9."
    itself = await client.post(f"{path}/minutes/approval", json={"at_meeting_id": first["id"]}, headers=staff)
    assert (itself.status_code, itself.json()["code"]) == (409, "not_the_next_meeting")

    second = (await client.post("/v1/meetings", json=meeting_body(kind="egm", title="EGM"), headers=staff)).json()
    not_yet = await client.post(f"{path}/minutes/approval", json={"at_meeting_id": second["id"]}, headers=staff)
    assert (not_yet.status_code, not_yet.json()["code"]) == (409, "meeting_not_started")
    await begin(session, second["id"])
    approved = await client.post(f"{path}/minutes/approval", json={"at_meeting_id": second["id"]}, headers=staff)
    assert approved.status_code == 200, approved.text
    assert approved.json()["minutes"]["approved_at_meeting_id"] == second["id"]

    rewrite = await client.put(f"{path}/minutes", json={"text": "Something else."}, headers=staff)
    assert (rewrite.status_code, rewrite.json()["code"]) == (409, "minutes_approved")
    with pytest.raises(sa.exc.DBAPIError, match="immutable"):
        async with session.begin_nested():
            await session.execute(sa.text("UPDATE meeting_minutes SET text = 'forged'"))
    with pytest.raises(sa.exc.DBAPIError, match="immutable"):
        async with session.begin_nested():
            await session.execute(sa.text("DELETE FROM meeting_minutes"))
