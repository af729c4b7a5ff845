"""Making users and signing them in, for tests."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from domain.identity import service
from domain.identity.rules import MemberRole, Role
from domain.membership import service as membership

if TYPE_CHECKING:
    import httpx
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.identity.tables import User
    from domain.membership.tables import Member

PASSWORD = "a-long-enough-password"
_seq = itertools.count(1)


async def make_user(
    session: AsyncSession,
    role: Role = Role.STAFF,
    *,
    member_id: int | None = None,
    supplier_id: int | None = None,
    member_role: MemberRole | None = None,
) -> User:
    """A committed user with PASSWORD and a unique e-mail."""
    user = await service.create_user(
        session,
        email=f"{role.value}{next(_seq)}@coop.test",
        password=PASSWORD,
        role=role,
        member_id=member_id,
        supplier_id=supplier_id,
        member_role=member_role,
    )
    await session.commit()
    return user


async def bearer(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """Sign in through the API and return the Authorization header."""
    answer = await client.post("/v1/auth/token", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def make_member(session: AsyncSession, name: str = "Corner Bakery") -> Member:
    """A committed applicant member."""
    member = await membership.apply(
        session, name=name, email=f"m{next(_seq)}@shop.test", contact_name=None, par_cents=10_000
    )
    await session.commit()
    return member


async def make_member_user(
    session: AsyncSession, role: MemberRole = MemberRole.ADMIN, member_id: int | None = None
) -> User:
    """A user of a (new, unless given) member."""
    if member_id is None:
        member_id = (await make_member(session)).id
    return await make_user(session, Role.MEMBER, member_id=member_id, member_role=role)
