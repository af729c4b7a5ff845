"""Issue 9: a withdrawal dated before the member joined, or far in the past, is refused with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.users import bearer, make_user


async def _member(client, staff) -> dict[str, str]:
    register = [
        {
            "external_ref": "wd-1",
            "name": "Leaving Shop",
            "email": "leaving@wd.test",
            "joined_at": "2020-06-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": 10_000,
        }
    ]
    landed = await client.post("/v1/members/imports", json={"members": register}, headers=staff)
    return dict(landed.json()["members"][0])


async def test_a_withdrawal_before_joining_or_long_ago_is_400_and_nothing_changes(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    member = await _member(client, staff)
    today = datetime.now(UTC).date()
    for effective in ("2020-05-31", (today - timedelta(days=32)).isoformat()):
        answer = await client.post(
            f"/v1/members/{member['id']}/withdraw", json={"effective_date": effective}, headers=staff
        )
        assert answer.status_code == 400, (effective, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == ["effective_date"]
    shown = (await client.get(f"/v1/members/{member['id']}", headers=staff)).json()
    assert shown["status"] == "full"
    recent = (today - timedelta(days=31)).isoformat()
    left = await client.post(f"/v1/members/{member['id']}/withdraw", json={"effective_date": recent}, headers=staff)
    assert left.status_code == 200, left.text
    assert left.json()["status"] == "former"
