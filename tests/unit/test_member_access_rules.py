"""Who may read or manage one member's data (API.md: staff see all; a member's users their own, admins manage).

Every role and member role is pinned both ways, allowed and refused, on the member's own data
and on another's: a permission that is one case too wide is a tenant leak.
"""

from __future__ import annotations

import pytest

from domain.identity.rules import Access, MemberRole, Role, member_access

OWN, OTHER = 7, 8
MEMBER_ROLES = [*MemberRole, None]


@pytest.mark.parametrize("admin", [False, True])
@pytest.mark.parametrize("member_role", MEMBER_ROLES)
@pytest.mark.parametrize("caller_member", [None, OWN, OTHER])
def test_staff_may_read_and_manage_every_member(admin, member_role, caller_member):
    assert member_access(Role.STAFF, caller_member, member_role, OWN, admin=admin) is Access.ALLOWED


@pytest.mark.parametrize("admin", [False, True])
@pytest.mark.parametrize("member_role", MEMBER_ROLES)
@pytest.mark.parametrize("caller_member", [None, OWN, OTHER])
def test_a_supplier_may_never_read_or_manage_a_member(admin, member_role, caller_member):
    assert member_access(Role.SUPPLIER, caller_member, member_role, OWN, admin=admin) is Access.FORBIDDEN


@pytest.mark.parametrize("admin", [False, True])
@pytest.mark.parametrize("member_role", MEMBER_ROLES)
@pytest.mark.parametrize("caller_member", [None, OTHER])
def test_another_members_users_do_not_see_the_member_at_all(admin, member_role, caller_member):
    assert member_access(Role.MEMBER, caller_member, member_role, OWN, admin=admin) is Access.HIDDEN


@pytest.mark.parametrize("member_role", MEMBER_ROLES)
def test_every_user_of_the_member_may_read_its_own_data(member_role):
    assert member_access(Role.MEMBER, OWN, member_role, OWN, admin=False) is Access.ALLOWED


def test_only_the_members_admins_may_manage_it():
    assert member_access(Role.MEMBER, OWN, MemberRole.ADMIN, OWN, admin=True) is Access.ALLOWED
    for member_role in (MemberRole.BUYER, MemberRole.FINANCE, None):
        assert member_access(Role.MEMBER, OWN, member_role, OWN, admin=True) is Access.FORBIDDEN
