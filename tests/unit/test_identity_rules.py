"""Sign-in throttling, who may sign in, and the last-admin rule, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.identity.rules import (
    MemberRole,
    ThrottlePolicy,
    ThrottleState,
    after_failure,
    backoff_seconds,
    last_admin_problem,
    may_sign_in,
    member_admins_may_change_users,
    member_takes_new_users,
    retry_after_seconds,
    throttle_keys,
    token_digest,
)

POLICY = ThrottlePolicy(free_failures=5, base_delay_seconds=30, max_delay_seconds=900, forget_after_seconds=86_400)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FRESH = ThrottleState(0, None, None)


def test_five_failures_are_free_then_delays_double_up_to_the_cap():
    assert [backoff_seconds(n, POLICY) for n in range(1, 12)] == [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]


@given(st.integers(min_value=0, max_value=10**9))
def test_the_delay_never_exceeds_the_cap_and_never_shrinks(failures):
    delay = backoff_seconds(failures, POLICY)
    assert 0 <= delay <= POLICY.max_delay_seconds
    assert backoff_seconds(failures + 1, POLICY) >= delay


def test_a_key_is_refused_until_its_delay_has_passed():
    state = FRESH
    for _ in range(5):
        assert retry_after_seconds(state, NOW) == 0
        state = after_failure(state, NOW, POLICY)
    assert state.failures == 5
    assert retry_after_seconds(state, NOW) == 30
    assert retry_after_seconds(state, NOW + timedelta(seconds=29.5)) == 1
    assert retry_after_seconds(state, NOW + timedelta(seconds=30)) == 0
    later = after_failure(state, NOW + timedelta(seconds=30), POLICY)
    assert retry_after_seconds(later, NOW + timedelta(seconds=30)) == 60


def test_failures_are_forgotten_after_a_quiet_day():
    state = ThrottleState(9, NOW - timedelta(hours=20), NOW - timedelta(days=2))
    assert after_failure(state, NOW, POLICY) == ThrottleState(1, None, NOW)


def test_an_attempt_is_throttled_by_address_and_account_except_from_the_known_address():
    assert throttle_keys("Ann@X.test", "10.0.0.1", None) == ["account:ann@x.test", "address:10.0.0.1"]
    assert throttle_keys("ann@x.test", "10.0.0.1", "10.0.0.2") == ["account:ann@x.test", "address:10.0.0.1"]
    assert throttle_keys("ann@x.test", "10.0.0.1", "10.0.0.1") == ["address:10.0.0.1"]


def test_disabled_users_and_departed_members_users_may_not_sign_in():
    assert may_sign_in(disabled=False, member_status=None)
    assert may_sign_in(disabled=False, member_status="full")
    assert may_sign_in(disabled=False, member_status="suspended")
    assert not may_sign_in(disabled=True, member_status="full")
    assert not may_sign_in(disabled=False, member_status="expelled")
    assert not may_sign_in(disabled=False, member_status="former")


def test_a_member_keeps_its_last_enabled_admin():
    assert last_admin_problem({1}, 1, new_role=MemberRole.BUYER, disable=False) is not None
    assert last_admin_problem({1}, 1, new_role=None, disable=True) is not None
    assert last_admin_problem({1}, 1, new_role=MemberRole.ADMIN, disable=False) is None
    assert last_admin_problem({1, 2}, 1, new_role=MemberRole.BUYER, disable=True) is None
    assert last_admin_problem({1}, 3, new_role=MemberRole.BUYER, disable=True) is None


def test_suspended_and_departed_members_take_no_new_users_and_their_admins_change_none():
    for status in ("applicant", "probationary", "full", "resigning"):
        assert member_takes_new_users(status)
        assert member_admins_may_change_users(status)
    for status in ("suspended", "expelled", "former"):
        assert not member_takes_new_users(status)
        assert not member_admins_may_change_users(status)


def test_failures_are_remembered_for_exactly_the_forget_period():
    state = ThrottleState(5, None, NOW - timedelta(days=1))
    assert after_failure(state, NOW, POLICY) == ThrottleState(6, NOW + timedelta(seconds=60), NOW)
    older = ThrottleState(5, None, NOW - timedelta(days=1, microseconds=1))
    assert after_failure(older, NOW, POLICY) == ThrottleState(1, None, NOW)


def test_the_last_admin_refusals_say_why():
    assert last_admin_problem({1}, 1, new_role=None, disable=True) == "the member's last admin cannot be disabled"
    assert last_admin_problem({1}, 1, new_role=MemberRole.ADMIN, disable=True) == (
        "the member's last admin cannot be disabled"
    )
    for role in (MemberRole.BUYER, MemberRole.FINANCE):
        assert last_admin_problem({1}, 1, new_role=role, disable=False) == "the member's last admin cannot change role"
    assert last_admin_problem({1}, 1, new_role=None, disable=False) is None


def test_a_token_is_stored_as_its_sha256_hex_digest():
    # The digest is what the database holds: another function would orphan every issued token.
    assert token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert token_digest("é") == "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c"  # UTF-8
