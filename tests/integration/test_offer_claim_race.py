"""Twenty members claim an offer capped at five, all at once, on separate connections with real COMMITs.

Exactly five claims succeed and the rest are refused with `offer_cap_reached`; the offer's
count and its claim rows agree. The data is committed for real, into a database of the
test's own (`committing_engine`).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from domain.db import make_session_maker
from domain.errors import ConflictError
from domain.membership import service as membership
from domain.network import offers
from domain.network.rules import NewOffer
from domain.network.tables import MemberOffer, OfferClaim

CLAIMERS = 20
CAP = 5


async def test_twenty_concurrent_claims_on_a_cap_of_five_give_exactly_five(committing_engine):
    maker = make_session_maker(committing_engine)
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    async with maker() as s:
        members = []
        for i in range(CLAIMERS + 1):
            member = await membership.apply(
                s, name=f"Race {tag} {i}", email=f"{tag}.{i}@race.test", contact_name=None, par_cents=10_000
            )
            member.status, member.joined_at = "full", now
            s.add(member)
            members.append(member.id or 0)
        await s.commit()
        offer = NewOffer(
            "Half price", "", None, 500, now - timedelta(hours=1), now + timedelta(days=1), CAP, None
        )  # fmt: skip
        offer_id = (await offers.publish_offer(s, members[0], offer, now=now, actor=0)).id
        await s.commit()

    outcomes: Counter[str] = Counter()

    async def claim(member_id: int) -> None:
        async with maker() as s:
            try:
                await offers.claim_offer(
                    s, offer_id, member_id, code=secrets.token_hex(8), now=datetime.now(UTC), actor=0
                )
                await s.commit()
                outcomes["claimed"] += 1
            except ConflictError as refused:
                await s.rollback()
                outcomes[refused.code or "?"] += 1

    # At most 8 at once: the engine pools 5 + 5 connections; the rest queue for one.
    await asyncio.gather(*(claim(m) for m in members[1:]))
    assert outcomes == {"claimed": CAP, "offer_cap_reached": CLAIMERS - CAP}
    async with maker() as s:
        stored = await s.get(MemberOffer, offer_id)
        assert stored is not None
        assert stored.claimed == CAP
        claims = (await s.exec(select(OfferClaim).where(col(OfferClaim.offer_id) == offer_id))).all()
        assert len(claims) == CAP
        assert len({c.member_id for c in claims}) == CAP
