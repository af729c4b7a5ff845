"""Petitions over the API (issue 15): full members sign once each; at CEIL(10 % of full members) the petition is
met and staff are told; a met petition for an EGM waits for staff to schedule one, which it then names."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from domain.membership.rules import Status
from tests.support.buying import staff_headers
from tests.support.governance import AFTER_RECORD_DATE, LONG_AGO, RECORD_DATE, member_with_history, voter


async def test_a_petition_is_met_at_ten_percent_of_full_members_and_an_egm_answers_it(client, session):
    staff = await staff_headers(client, session)
    _, suspended = await voter(
        client, session, "Suspended Signer", [(Status.FULL, LONG_AGO), (Status.SUSPENDED, AFTER_RECORD_DATE)]
    )
    _, opener_admin = await voter(client, session, "Petition Opener")
    for i in range(20):  # enough full members that one signature is not 10 % of them
        await member_with_history(session, f"Full Bystander {i}", [(Status.FULL, LONG_AGO)])
    refused = await client.post("/v1/petitions", json={"kind": "egm", "text": "Call an EGM."}, headers=suspended)
    assert (refused.status_code, refused.json()["code"]) == (403, "member_not_full")

    made = await client.post(
        "/v1/petitions", json={"kind": "egm", "text": "Call an EGM on the warehouse."}, headers=opener_admin
    )
    assert made.status_code == 201, made.text
    petition = made.json()
    full = (await session.execute(sa.text("SELECT count(*) FROM member WHERE status = 'full'"))).scalar_one()
    assert (petition["status"], petition["signatures"]) == ("open", 1)
    assert petition["needed"] == max(1, math.ceil(full / 10))
    path = f"/v1/petitions/{petition['id']}"
    twice = await client.post(f"{path}/signatures", headers=opener_admin)
    assert (twice.status_code, twice.json()["code"]) == (409, "already_signed")
    by_suspended = await client.post(f"{path}/signatures", headers=suspended)
    assert (by_suspended.status_code, by_suspended.json()["code"]) == (403, "member_not_full")

    # Signers joining now raise the number of full members; each signature reads it afresh.
    signed = petition
    while signed["status"] == "open":
        _, admin = await voter(client, session, f"Signer {signed['signatures']}")
        answer = await client.post(f"{path}/signatures", headers=admin)
        assert answer.status_code == 201, answer.text
        signed = answer.json()
    full = (await session.execute(sa.text("SELECT count(*) FROM member WHERE status = 'full'"))).scalar_one()
    assert signed["signatures"] == signed["needed"] == math.ceil(full / 10)
    assert (signed["status"], signed["egm_required"], signed["meeting_id"]) == ("met", True, None)
    notice = (
        await session.execute(
            sa.text("SELECT payload FROM outbox_job WHERE business_key = :k"),
            {"k": f"notify:petition:{petition['id']}:met"},
        )
    ).scalar_one()
    assert (notice["audience"], notice["event"], notice["data"]["egm_required"]) == ("staff", "petition.met", True)

    egm = {
        "kind": "egm",
        "title": "Extraordinary general meeting",
        "starts_at": (datetime.now(UTC) + timedelta(days=20)).isoformat(),
        "record_date": RECORD_DATE.isoformat(),
        "quorum_rate": "0.1",
        "agenda": [{"title": "The warehouse"}],
        "petition_id": petition["id"],
    }
    meeting = await client.post("/v1/meetings", json=egm, headers=staff)
    assert meeting.status_code == 201, meeting.text
    shown = (await client.get(path, headers=opener_admin)).json()
    assert (shown["status"], shown["egm_required"], shown["meeting_id"]) == ("scheduled", False, meeting.json()["id"])
    again = await client.post("/v1/meetings", json=egm, headers=staff)
    assert (again.status_code, again.json()["code"]) == (409, "petition_scheduled")
    bylaw = await client.post(
        "/v1/petitions", json={"kind": "bylaw_amendment", "text": "Amend bylaw 4."}, headers=opener_admin
    )
    not_egm = await client.post("/v1/meetings", json={**egm, "petition_id": bylaw.json()["id"]}, headers=staff)
    assert not_egm.status_code == 400
    assert {e["field"] for e in not_egm.json()["errors"]} == {"petition_id"}
