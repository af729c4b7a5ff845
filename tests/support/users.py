"""Making users and signing them in, for tests."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from domain.identity import service
from domain.identity.rules import MemberRole, Role

if TYPE_CHECKING:
    import httpx
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.identity.tables import User

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
