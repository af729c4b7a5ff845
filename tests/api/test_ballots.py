"""Ballots over the API (issue 15): quorum and thresholds decided exactly, eligibility from the dated
history, one counted ballot per member, STV with its rounds, secret publication, the voter roll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from domain.identity.rules import MemberRole, Role
from domain.membership.rules import Status
from tests.support.buying import staff_headers
from tests.support.governance import (
    AFTER_RECORD_DATE,
    LONG_AGO,
    begin,
    election_body,
    meeting_body,
    resolution_body,
    voter,
)
from tests.support.users import bearer, make_user


async def _ballot(client, staff, body) -> dict[str, Any]:
    made = await client.post("/v1/ballots", json=body, headers=staff)
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


async def _vote(client, ballot_id: str, headers, body) -> str:
    cast = await client.post(f"/v1/ballots/{ballot_id}/votes", json=body, headers=headers)
    assert cast.status_code == 201, cast.text
    return str(cast.json()["receipt"])


async def _close(client, staff, ballot_id: str) -> dict[str, Any]:
    closed = await client.post(f"/v1/ballots/{ballot_id}/close", headers=staff)
    assert closed.status_code == 200, closed.text
    answer: dict[str, Any] = closed.json()
    return answer


async def test_an_agm_with_notice_a_two_thirds_amendment_an_stv_election_attendance_and_minutes(client, session):
    """The issue's done-when scenario: an AGM from its notice to its approved minutes."""
    staff = await staff_headers(client, session)
    voters = [await voter(client, session, f"Voter Deli {i}") for i in range(12)]
    ballot = await _ballot(client, staff, resolution_body(quorum_rate="0.75"))
    assert (ballot["status"], ballot["eligible"], ballot["cast"], ballot["result"]) == ("open", 12, 0, None)
    election = await _ballot(client, staff, election_body(["Ann", "Bo", "Cy"], seats=2, quorum_rate="0.75"))
    second = await _ballot(client, staff, resolution_body(title="Second reading", quorum_rate="0.75"))
    agenda = [
        {"title": "Amend bylaw 4", "ballot_id": ballot["id"]},
        {"title": "Board election", "ballot_id": election["id"]},
        {"title": "Amend bylaw 4, second reading", "ballot_id": second["id"]},
    ]
    short = meeting_body(agenda=agenda, starts_at=(datetime.now(UTC) + timedelta(days=10)).isoformat())
    refused = await client.post("/v1/meetings", json=short, headers=staff)
    assert (refused.status_code, refused.json()["code"]) == (409, "notice_too_short")
    made = await client.post("/v1/meetings", json=meeting_body(agenda=agenda, quorum_rate="0.5"), headers=staff)
    assert made.status_code == 201, made.text
    agm = made.json()
    notice = (
        await session.execute(
            sa.text("SELECT payload FROM outbox_job WHERE business_key = :k"),
            {"k": f"notify:meeting:{agm['id']}:notice"},
        )
    ).scalar_one()
    assert (notice["event"], notice["audience"]) == ("meeting.notice", "members")
    assert notice["data"]["agenda"] == [item["title"] for item in agenda]

    # The meeting's day: six members attend, which makes its quorum of CEIL(0.5 * 12) = 6.
    await begin(session, agm["id"])
    meeting_path = f"/v1/meetings/{agm['id']}"
    for (member, _), mode in zip(voters[:6], ["in_person", "online"] * 3, strict=True):
        present = await client.post(
            f"{meeting_path}/attendance", json={"member_id": str(member.id), "mode": mode}, headers=staff
        )
        assert present.status_code == 201, present.text
    shown = (await client.get(meeting_path, headers=voters[0][1])).json()
    assert (shown["attendance"]["total"], shown["quorum_needed"], shown["quorum_met"]) == (6, 6, True)

    choices = ["yes"] * 6 + ["no"] * 3
    receipts = {}
    for (_, headers), choice in zip(voters, choices, strict=False):
        receipts[await _vote(client, ballot["id"], headers, {"choice": choice})] = choice
    # A 10th ballot, an abstention: it counts toward the quorum (CEIL(0.75 * 12) = 9), never the threshold.
    receipts[await _vote(client, ballot["id"], voters[9][1], {"choice": "abstain"})] = "abstain"
    result = (await _close(client, staff, ballot["id"]))["result"]
    assert result["counts"] == {"yes": 6, "no": 3, "abstain": 1}
    assert (result["eligible"], result["cast"], result["turnout"], result["quorum_needed"]) == (12, 10, 10, 9)
    assert (result["quorum_met"], result["passed"]) == (True, True)  # 6 of 9: exactly two-thirds

    published = await client.get(f"/v1/ballots/{ballot['id']}/ballots", headers=voters[0][1])
    assert published.status_code == 200, published.text
    assert {b["receipt"]: b["choice"] for b in published.json()["items"]} == receipts
    for member, _ in voters:
        assert member.name not in published.text
        assert f'"{member.id}"' not in published.text

    # The board election by STV: quota floor(10 / 3) + 1 = 4; Ann's surplus of 2 elects Bo.
    ann, bo, cy = (c["id"] for c in election["candidates"])
    rankings = [[ann, bo]] * 6 + [[cy]] * 2 + [[bo]] * 2
    election_receipts = {}
    for (_, headers), ranking in zip(voters, rankings, strict=False):
        election_receipts[await _vote(client, election["id"], headers, {"ranking": ranking})] = ranking
    counted = (await _close(client, staff, election["id"]))["result"]
    assert (counted["quota"], counted["elected"], counted["quorum_met"]) == (4, [ann, bo], True)
    assert counted["rounds"][0]["tallies"] == {ann: "6", bo: "2", cy: "2"}
    assert counted["rounds"][0]["transfers"] == {bo: "2"}
    items = (await client.get(f"/v1/ballots/{election['id']}/ballots", headers=staff)).json()["items"]
    assert {p["receipt"]: p["ranking"] for p in items} == election_receipts

    # Eight ballots, all from members present or not: with the six present counted once each,
    # eight members count toward the second ballot's quorum of nine, which it misses.
    for _, headers in voters[:8]:
        await _vote(client, second["id"], headers, {"choice": "yes"})
    missed = (await _close(client, staff, second["id"]))["result"]
    assert (missed["cast"], missed["turnout"], missed["quorum_needed"]) == (8, 8, 9)
    assert (missed["quorum_met"], missed["passed"]) == (False, False)

    # The minutes, approved at the next meeting and final from then on.
    minutes = {"text": "Bylaw 4 amended (6-3-1). Ann and Bo elected. Second reading inquorate."}
    assert (await client.put(f"{meeting_path}/minutes", json=minutes, headers=staff)).status_code == 200
    following = (await client.post("/v1/meetings", json=meeting_body(kind="egm", title="EGM"), headers=staff)).json()
    await begin(session, following["id"], ago=timedelta(minutes=1))
    approval = {"at_meeting_id": following["id"]}
    approved = await client.post(f"{meeting_path}/minutes/approval", json=approval, headers=staff)
    assert approved.status_code == 200, approved.text
    assert approved.json()["minutes"]["text"] == minutes["text"]
    final = await client.put(f"{meeting_path}/minutes", json={"text": "Rewritten."}, headers=staff)
    assert (final.status_code, final.json()["code"]) == (409, "minutes_approved")


async def test_five_yes_three_no_fails_two_thirds(client, session):
    staff = await staff_headers(client, session)
    voters = [await voter(client, session, f"Split Deli {i}") for i in range(8)]
    ballot = await _ballot(client, staff, resolution_body(quorum_rate="0"))
    for (_, headers), choice in zip(voters, ["yes"] * 5 + ["no"] * 3, strict=True):
        await _vote(client, ballot["id"], headers, {"choice": choice})
    result = (await _close(client, staff, ballot["id"]))["result"]
    assert (result["quorum_met"], result["passed"]) == (True, False)


async def test_the_voters_are_the_members_full_on_the_record_date(client, session):
    staff = await staff_headers(client, session)
    _, late = await voter(client, session, "Late Joiner", [(Status.FULL, AFTER_RECORD_DATE)])
    suspended, since = await voter(
        client, session, "Suspended Since", [(Status.FULL, LONG_AGO), (Status.SUSPENDED, AFTER_RECORD_DATE)]
    )
    _, applicant = await voter(client, session, "Never Full", [(Status.PROBATIONARY, LONG_AGO)])
    ballot = await _ballot(client, staff, resolution_body())
    assert ballot["eligible"] == 1
    for headers in (late, applicant):
        refused = await client.post(f"/v1/ballots/{ballot['id']}/votes", json={"choice": "yes"}, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "not_on_voter_roll"
    # Suspended after the record date: still on the roll, which the record date fixed.
    await _vote(client, ballot["id"], since, {"choice": "yes"})
    roll = await client.get(f"/v1/ballots/{ballot['id']}/voter-roll", headers=staff)
    assert roll.status_code == 200, roll.text
    assert roll.headers["content-type"].startswith("text/csv")
    lines = roll.text.strip().splitlines()
    assert lines[0] == "member_id,member_number,name,email"
    assert len(lines) == 2
    assert lines[1].startswith(f"{suspended.id},")
    assert "Suspended Since" in lines[1]


async def test_only_a_members_admin_votes_and_the_voter_roll_is_staff_only(client, session):
    staff = await staff_headers(client, session)
    member, admin = await voter(client, session, "Admin Check")
    buyer = await bearer(
        client, (await make_user(session, Role.MEMBER, member_id=member.id, member_role=MemberRole.BUYER)).email
    )
    ballot = await _ballot(client, staff, resolution_body())
    refused = await client.post(f"/v1/ballots/{ballot['id']}/votes", json={"choice": "yes"}, headers=buyer)
    assert refused.status_code == 403
    staff_vote = await client.post(f"/v1/ballots/{ballot['id']}/votes", json={"choice": "yes"}, headers=staff)
    assert staff_vote.status_code == 403
    assert (await client.get(f"/v1/ballots/{ballot['id']}/voter-roll", headers=admin)).status_code == 403
    assert (await client.get(f"/v1/ballots/{ballot['id']}", headers=admin)).status_code == 200
    listed = await client.get("/v1/ballots", headers=admin)
    assert ballot["id"] in {b["id"] for b in listed.json()["items"]}


async def test_a_second_vote_replaces_the_first_and_counts_once(client, session):
    staff = await staff_headers(client, session)
    member, first_admin = await voter(client, session, "Two Admins")
    second_admin = await bearer(
        client, (await make_user(session, Role.MEMBER, member_id=member.id, member_role=MemberRole.ADMIN)).email
    )
    ballot = await _ballot(client, staff, resolution_body(threshold="majority", quorum_rate="0"))
    old = await _vote(client, ballot["id"], first_admin, {"choice": "yes"})
    roll_before = (await session.execute(sa.text("SELECT * FROM ballot_voter ORDER BY 1, 2"))).all()
    new = await _vote(client, ballot["id"], second_admin, {"choice": "no"})
    assert old != new
    # Replacing leaves the roll exactly as it was: nothing there changes when, or whether, a member re-votes.
    assert (await session.execute(sa.text("SELECT * FROM ballot_voter ORDER BY 1, 2"))).all() == roll_before
    assert (await client.get(f"/v1/ballots/{ballot['id']}", headers=staff)).json()["cast"] == 1
    result = (await _close(client, staff, ballot["id"]))["result"]
    assert (result["cast"], result["counts"]) == (1, {"yes": 0, "no": 1, "abstain": 0})
    published = (await client.get(f"/v1/ballots/{ballot['id']}/ballots", headers=staff)).json()["items"]
    assert published == [{"receipt": new, "choice": "no", "ranking": None}]


async def test_nothing_joins_who_voted_to_what_they_chose_after_close(client, session):
    staff = await staff_headers(client, session)
    voters = [await voter(client, session, f"Secret Deli {i}") for i in range(3)]
    ballot = await _ballot(client, staff, resolution_body(quorum_rate="0"))
    for _, headers in voters:
        await _vote(client, ballot["id"], headers, {"choice": "yes"})
    await _close(client, staff, ballot["id"])
    columns = {
        table: set(
            (
                await session.execute(
                    sa.text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"), {"t": table}
                )
            ).scalars()
        )
        for table in ("ballot_voter", "cast_ballot")
    }
    assert columns == {
        "ballot_voter": {"ballot_id", "member_id"},
        "cast_ballot": {"ballot_id", "receipt", "slot", "choice", "ranking"},
    }
    slots = (
        await session.execute(sa.text("SELECT slot FROM cast_ballot WHERE ballot_id = :b"), {"b": int(ballot["id"])})
    ).scalars()
    assert list(slots) == [None, None, None]
    seal = (await session.execute(sa.text("SELECT seal FROM ballot WHERE id = :b"), {"b": int(ballot["id"])})).scalar()
    assert seal is None
    # And no route shows staff who chose what: the ballot and its published list name no member.
    for path in (f"/v1/ballots/{ballot['id']}", f"/v1/ballots/{ballot['id']}/ballots", "/v1/ballots"):
        text = (await client.get(path, headers=staff)).text
        assert not any(m.name in text or f'"{m.id}"' in text for m, _ in voters)


async def test_an_stv_election_over_the_api_shows_every_round(client, session):
    staff = await staff_headers(client, session)
    voters = [await voter(client, session, f"Board Voter {i}") for i in range(7)]
    ballot = await _ballot(client, staff, election_body(["Ann", "Bo", "Cy", "Di"], seats=2, quorum_rate="0.5"))
    ann, bo, cy, di = (c["id"] for c in ballot["candidates"])
    rankings = [[ann, bo]] * 4 + [[cy, di]] * 2 + [[di]]
    for (_, headers), ranking in zip(voters, rankings, strict=True):
        await _vote(client, ballot["id"], headers, {"ranking": ranking})
    closed = await _close(client, staff, ballot["id"])
    result = closed["result"]
    assert result["quota"] == 3  # floor(7 / 3) + 1
    assert result["elected"] == [ann, cy]
    first = result["rounds"][0]
    assert first["tallies"] == {ann: "4", bo: "0", cy: "2", di: "1"}
    assert first["elected"] == [ann]
    assert first["transfers"] == {bo: "1"}  # Ann's surplus of 1 over her 4 ballots: 4 x 1/4 to Bo
    # Bo and Di tie on 1; Bo had fewer in round 1, so Bo goes first (the earliest-round rule).
    assert [r["eliminated"] for r in result["rounds"][1:3]] == [[bo], [di]]
    assert "round 1" in result["rounds"][1]["tie"]
    # Bo's four quarter-value ballots rank nobody after him, nor does Di's one ballot.
    assert [r["exhausted"] for r in result["rounds"][1:3]] == ["1", "1"]
    published = (await client.get(f"/v1/ballots/{ballot['id']}/ballots", headers=voters[0][1])).json()["items"]
    assert sorted(map(tuple, (p["ranking"] for p in published))) == sorted(map(tuple, rankings))


async def test_votes_outside_the_window_and_a_second_close_are_refused(client, session):
    staff = await staff_headers(client, session)
    _, headers = await voter(client, session, "Window Deli")
    later = datetime.now(UTC) + timedelta(days=1)
    scheduled = await _ballot(
        client,
        staff,
        resolution_body(opens_at=later.isoformat(), closes_at=(later + timedelta(days=1)).isoformat()),
    )
    assert scheduled["status"] == "scheduled"
    early = await client.post(f"/v1/ballots/{scheduled['id']}/votes", json={"choice": "yes"}, headers=headers)
    assert (early.status_code, early.json()["code"]) == (409, "ballot_not_open")
    ballot = await _ballot(client, staff, resolution_body())
    await _close(client, staff, ballot["id"])
    late = await client.post(f"/v1/ballots/{ballot['id']}/votes", json={"choice": "yes"}, headers=headers)
    assert (late.status_code, late.json()["code"]) == (409, "ballot_not_open")
    again = await client.post(f"/v1/ballots/{ballot['id']}/close", headers=staff)
    assert (again.status_code, again.json()["code"]) == (409, "ballot_transition_refused")
    before = await client.get(f"/v1/ballots/{scheduled['id']}/ballots", headers=staff)
    assert (before.status_code, before.json()["code"]) == (409, "ballot_not_closed")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"choice": "maybe"}, "choice"),
        ({"ranking": ["1"]}, "ranking"),
        ({}, "choice"),
    ],
)
async def test_a_vote_that_does_not_fit_is_a_400_naming_the_field(client, session, body, field):
    staff = await staff_headers(client, session)
    _, headers = await voter(client, session, "Bad Vote Deli")
    ballot = await _ballot(client, staff, resolution_body())
    answer = await client.post(f"/v1/ballots/{ballot['id']}/votes", json=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert field in {e["field"] for e in answer.json()["errors"]}
    assert (await client.get(f"/v1/ballots/{ballot['id']}", headers=staff)).json()["cast"] == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"record_date": "2200-01-01"}, "record_date"),
        ({"quorum_rate": "1.5"}, "quorum_rate"),
        ({"seats": 2}, "seats"),
        ({"closes_at": "2000-01-01T00:00:00Z"}, "closes_at"),
    ],
)
async def test_a_bad_ballot_is_a_400_naming_the_field_and_writes_nothing(client, session, changes, field):
    staff = await staff_headers(client, session)
    before = (await session.execute(sa.text("SELECT count(*) FROM ballot"))).scalar()
    answer = await client.post("/v1/ballots", json=resolution_body(**changes), headers=staff)
    assert answer.status_code == 400, answer.text
    assert field in {e["field"] for e in answer.json()["errors"]}
    assert (await session.execute(sa.text("SELECT count(*) FROM ballot"))).scalar() == before


async def test_a_stored_result_cannot_be_changed(client, session):
    staff = await staff_headers(client, session)
    ballot = await _ballot(client, staff, resolution_body())
    await _close(client, staff, ballot["id"])
    with pytest.raises(sa.exc.DBAPIError, match="immutable"):
        async with session.begin_nested():
            await session.execute(sa.text("UPDATE ballot_result SET result = '{}'::jsonb"))


async def test_a_ballot_opens_now_with_the_day_before_as_record_date_by_default(client, session):
    staff = await staff_headers(client, session)
    body = {
        "title": "Quick resolution",
        "kind": "resolution",
        "closes_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "quorum_rate": "0.1",
    }
    ballot = await _ballot(client, staff, body)
    assert (ballot["status"], ballot["threshold"]) == ("open", "majority")
    assert ballot["record_date"] == (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


async def test_proxies_are_off_by_default_and_capped_per_holder_when_allowed(client, session):
    staff = await staff_headers(client, session)
    grantor, grantor_admin = await voter(client, session, "Away Deli")
    other, other_admin = await voter(client, session, "Also Away")
    holder, holder_admin = await voter(client, session, "Proxy Holder")
    _, late = await voter(client, session, "Late Proxy", [(Status.FULL, AFTER_RECORD_DATE)])
    off = await _ballot(client, staff, resolution_body())
    refused = await client.post(
        f"/v1/ballots/{off['id']}/proxies", json={"holder_member_id": str(holder.id)}, headers=grantor_admin
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "proxies_not_allowed")

    ballot = await _ballot(client, staff, resolution_body(threshold="majority", quorum_rate="0", proxy_cap=1))
    assert ballot["proxy_cap"] == 1
    path = f"/v1/ballots/{ballot['id']}"
    itself = await client.post(f"{path}/proxies", json={"holder_member_id": str(grantor.id)}, headers=grantor_admin)
    assert itself.status_code == 400
    assert {e["field"] for e in itself.json()["errors"]} == {"holder_member_id"}
    late_holder = await client.post(f"{path}/proxies", json={"holder_member_id": str(holder.id)}, headers=late)
    assert (late_holder.status_code, late_holder.json()["code"]) == (403, "not_on_voter_roll")
    made = await client.post(f"{path}/proxies", json={"holder_member_id": str(holder.id)}, headers=grantor_admin)
    assert made.status_code == 201, made.text
    assert made.json()["grantor_member_id"] == str(grantor.id)
    capped = await client.post(f"{path}/proxies", json={"holder_member_id": str(holder.id)}, headers=other_admin)
    assert (capped.status_code, capped.json()["code"]) == (409, "proxy_cap_reached")
    stranger = await client.post(
        f"{path}/votes", json={"choice": "no", "for_member_id": str(grantor.id)}, headers=other_admin
    )
    assert (stranger.status_code, stranger.json()["code"]) == (403, "no_proxy")

    await _vote(client, ballot["id"], holder_admin, {"choice": "yes"})
    await _vote(client, ballot["id"], holder_admin, {"choice": "yes", "for_member_id": str(grantor.id)})
    await _vote(client, ballot["id"], other_admin, {"choice": "no"})
    result = (await _close(client, staff, ballot["id"]))["result"]
    # The proxy vote counts for the appointing member: three members, three ballots, one each.
    assert (result["cast"], result["counts"]) == (3, {"yes": 2, "no": 1, "abstain": 0})
    roll = {
        r[0]
        for r in (
            await session.execute(
                sa.text("SELECT member_id FROM ballot_voter WHERE ballot_id = :b"), {"b": int(ballot["id"])}
            )
        ).all()
    }
    assert roll == {grantor.id, holder.id, other.id}


async def test_a_member_revokes_its_proxy_until_the_holder_has_used_it(client, session):
    staff = await staff_headers(client, session)
    grantor, grantor_admin = await voter(client, session, "Revoking Deli")
    holder, holder_admin = await voter(client, session, "Revoked Holder")
    ballot = await _ballot(client, staff, resolution_body(threshold="majority", quorum_rate="0", proxy_cap=1))
    path = f"/v1/ballots/{ballot['id']}/proxies"
    none = await client.delete(path, headers=grantor_admin)
    assert (none.status_code, none.json()["code"]) == (404, "no_proxy")
    appoint = {"holder_member_id": str(holder.id)}
    assert (await client.post(path, json=appoint, headers=grantor_admin)).status_code == 201
    revoked = await client.delete(path, headers=grantor_admin)
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["holder_member_id"], revoked.json()["used_at"]) == (str(holder.id), None)
    proxy_vote = {"choice": "yes", "for_member_id": str(grantor.id)}
    late = await client.post(f"/v1/ballots/{ballot['id']}/votes", json=proxy_vote, headers=holder_admin)
    assert (late.status_code, late.json()["code"]) == (403, "no_proxy")

    assert (await client.post(path, json=appoint, headers=grantor_admin)).status_code == 201
    await _vote(client, ballot["id"], holder_admin, proxy_vote)
    used = await client.delete(path, headers=grantor_admin)
    assert (used.status_code, used.json()["code"]) == (409, "proxy_used")
    result = (await _close(client, staff, ballot["id"]))["result"]
    assert (result["cast"], result["counts"]["yes"]) == (1, 1)


async def test_an_open_ballot_shows_who_chose_what_after_close_and_a_secret_one_never(client, session):
    staff = await staff_headers(client, session)
    voters = [await voter(client, session, f"Open Vote Deli {i}") for i in range(3)]
    ballot = await _ballot(client, staff, resolution_body(secret=False, threshold="majority", quorum_rate="0"))
    path = f"/v1/ballots/{ballot['id']}/choices"
    for (_, headers), choice in zip(voters, ["yes", "no", "no"], strict=True):
        await _vote(client, ballot["id"], headers, {"choice": choice})
    await _vote(client, ballot["id"], voters[2][1], {"choice": "abstain"})  # replaces its "no"
    early = await client.get(path, headers=voters[0][1])
    assert (early.status_code, early.json()["code"]) == (409, "ballot_not_closed")
    result = (await _close(client, staff, ballot["id"]))["result"]
    assert result["counts"] == {"yes": 1, "no": 1, "abstain": 1}
    shown = await client.get(path, headers=voters[0][1])
    assert shown.status_code == 200, shown.text
    assert [(c["member_id"], c["name"], c["choice"]) for c in shown.json()["items"]] == [
        (str(m.id), m.name, choice) for (m, _), choice in zip(voters, ["yes", "no", "abstain"], strict=True)
    ]

    secret = await _ballot(client, staff, resolution_body(quorum_rate="0"))
    await _vote(client, secret["id"], voters[0][1], {"choice": "yes"})
    await _close(client, staff, secret["id"])
    hidden = await client.get(f"/v1/ballots/{secret['id']}/choices", headers=staff)
    assert (hidden.status_code, hidden.json()["code"]) == (409, "ballot_secret")
    recorded = (
        await session.execute(
            sa.text("SELECT count(*) FROM recorded_vote WHERE ballot_id = :b"), {"b": int(secret["id"])}
        )
    ).scalar_one()
    assert recorded == 0
