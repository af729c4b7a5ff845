"""Directory and offer rules of the member network, without I/O (issue 16)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.errors import ConflictError, InvalidInputError
from domain.membership.rules import Status
from domain.network.rules import (
    DEFAULT_RADIUS_KM,
    LISTED_STATUSES,
    OFFER_CAP_REACHED,
    OFFER_EXPIRED,
    OFFER_NOT_YET_VALID,
    PROFILE_FIELDS,
    PUBLIC_DIRECTORY_LIMIT,
    Audience,
    EventStatus,
    OfferWindow,
    ProfileInput,
    RateLimit,
    RegistrationStatus,
    Waiting,
    attendance_refusal,
    cancellation_refusal,
    check_event_move,
    check_offer_standing,
    check_profile_writer,
    check_proposer_standing,
    check_registrant_standing,
    check_registration_move,
    checked_profile,
    claim_refusal,
    coordinate_errors,
    event_errors,
    filter_fields,
    full_visibility,
    haversine_km,
    like_pattern,
    normalize_categories,
    offer_errors,
    parse_near,
    promotions,
    rate_retry_after,
    registration_closed,
    registration_fee_cents,
    reminder_due,
    visible_fields,
    waitlist_priority,
    window_over,
    window_start,
)

NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)
LEVELS = st.sampled_from(["staff", "members", "public"])
VISIBILITIES = st.dictionaries(st.sampled_from(PROFILE_FIELDS), LEVELS)
LATITUDES = st.floats(min_value=-90, max_value=90)
LONGITUDES = st.floats(min_value=-180, max_value=180)


def test_each_audience_sees_its_levels_and_the_ones_above():
    visibility = {"phone": "staff", "city": "members", "website": "public"}
    values = {"phone": "555", "city": "Portland", "website": "https://bakery.test"}
    assert filter_fields(values, visibility, Audience.STAFF) == values
    assert filter_fields(values, visibility, Audience.OWNER) == values
    assert filter_fields(values, visibility, Audience.MEMBERS) == {"city": "Portland", "website": "https://bakery.test"}
    assert filter_fields(values, visibility, Audience.PUBLIC) == {"website": "https://bakery.test"}


def test_a_field_without_a_level_is_members_only():
    assert "description" in visible_fields({}, Audience.MEMBERS)
    assert "description" not in visible_fields({}, Audience.PUBLIC)


@given(VISIBILITIES)
def test_wider_audiences_never_see_less(visibility):
    public = visible_fields(visibility, Audience.PUBLIC)
    members = visible_fields(visibility, Audience.MEMBERS)
    staff = visible_fields(visibility, Audience.STAFF)
    assert public <= members <= staff == frozenset(PROFILE_FIELDS)
    assert all(visibility.get(f, "members") == "public" for f in public)
    assert all(visibility.get(f, "members") != "staff" for f in members)


def test_visibility_is_completed_and_unknown_fields_or_levels_are_named():
    levels, errors = full_visibility({"phone": "public"})
    assert levels["phone"] == "public"
    assert set(levels) == set(PROFILE_FIELDS)
    assert {v for k, v in levels.items() if k != "phone"} == {"members"}
    assert errors == []
    _, errors = full_visibility({"shoe_size": "public", "city": "everyone"})
    assert [e.field for e in errors] == ["visibility.shoe_size", "visibility.city"]


def test_coordinates_come_in_pairs_within_range():
    assert coordinate_errors(None, None) == []
    assert coordinate_errors(45.5, -122.6) == []
    assert [e.field for e in coordinate_errors(45.5, None)] == ["longitude"]
    assert [e.field for e in coordinate_errors(None, 10)] == ["latitude"]
    assert [e.field for e in coordinate_errors(91, 181)] == ["latitude", "longitude"]
    assert [e.field for e in coordinate_errors(math.nan, 0)] == ["latitude"]


def _profile(**changes: object) -> ProfileInput:
    base: dict[str, object] = {
        "listed": True,
        "description": "",
        "categories": [],
        "services": [],
        "city": "",
        "postcode": "",
        "country": "",
        "latitude": None,
        "longitude": None,
        "website": None,
        "phone": None,
        "visibility": {},
    }
    return ProfileInput(**{**base, **changes})  # type: ignore[arg-type]


def test_a_checked_profile_normalizes_categories_and_refuses_naming_every_field():
    stored = checked_profile(_profile(categories=[" Bakery", "bakery", "Coffee"], visibility={"city": "public"}))
    assert stored.categories == ["bakery", "coffee"]
    assert stored.visibility["city"] == "public"
    with pytest.raises(InvalidInputError) as refused:
        checked_profile(_profile(latitude=10.0, visibility={"nope": "public"}))
    assert {e.field for e in refused.value.errors} == {"visibility.nope", "longitude"}


@given(st.lists(st.text(max_size=8), max_size=10))
def test_categories_are_kept_once_each_in_order(categories):
    normalized = normalize_categories(categories)
    assert len(set(normalized)) == len(normalized)
    assert set(normalized) == {c.strip().lower() for c in categories}


def test_known_distances():
    # Portland to Seattle is about 234 km; a degree of latitude about 111.2 km.
    assert haversine_km(45.5152, -122.6784, 47.6062, -122.3321) == pytest.approx(233.8, abs=1.0)
    assert haversine_km(0, 0, 1, 0) == pytest.approx(111.19, abs=0.01)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371.0088)


@given(LATITUDES, LONGITUDES, LATITUDES, LONGITUDES)
def test_distance_is_symmetric_non_negative_and_bounded(lat1, lon1, lat2, lon2):
    d = haversine_km(lat1, lon1, lat2, lon2)
    assert 0 <= d <= math.pi * 6371.0088 + 1e-6
    assert d == pytest.approx(haversine_km(lat2, lon2, lat1, lon1), abs=1e-6)
    assert haversine_km(lat1, lon1, lat1, lon1) == pytest.approx(0, abs=1e-6)


# Near antipodal points the haversine's asin loses precision (up to R x sqrt(machine epsilon),
# about 0.1 m), so the inequality holds to a metre, not to a millimetre.
@given(LATITUDES, LONGITUDES, LATITUDES, LONGITUDES, LATITUDES, LONGITUDES)
@example(0, 0.99999, 0, 0, 0, -179)  # missed the equality by 4.8e-6 km
def test_distance_keeps_the_triangle_inequality(a1, a2, b1, b2, c1, c2):
    assert haversine_km(a1, a2, c1, c2) <= haversine_km(a1, a2, b1, b2) + haversine_km(b1, b2, c1, c2) + 1e-3


def test_near_is_parsed_or_refused_naming_the_parameter():
    point, errors = parse_near("45.5,-122.6", None)
    assert errors == []
    assert point is not None
    assert (point.latitude, point.longitude, point.radius_km) == (45.5, -122.6, DEFAULT_RADIUS_KM)
    assert parse_near(None, None) == (None, [])
    for bad in ("45.5", "a,b", "91,0", "0,181", "nan,0", "1,2,3", "inf,0"):
        assert [e.field for e in parse_near(bad, 5)[1]] == ["near"], bad
    assert [e.field for e in parse_near(None, 5)[1]] == ["radius_km"]
    assert [e.field for e in parse_near("0,0", 0)[1]] == ["radius_km"]


def test_only_admitted_members_not_gone_are_listed():
    assert {Status.PROBATIONARY, Status.FULL, Status.RESIGNING} == LISTED_STATUSES
    for gone in (Status.APPLICANT, Status.SUSPENDED, Status.EXPELLED, Status.FORMER):
        assert gone not in LISTED_STATUSES


def test_like_patterns_take_wildcards_literally():
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


LIMIT = RateLimit(requests=3, window_seconds=60)


def test_requests_past_the_limit_wait_for_the_next_window():
    started = window_start(NOW, LIMIT)
    assert started == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert [rate_retry_after(n, started, NOW, LIMIT) for n in (1, 2, 3)] == [0, 0, 0]
    assert rate_retry_after(4, started, NOW, LIMIT) == 30


@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=1, max_value=100_000))
def test_a_window_holds_its_moment_and_waits_stay_within_it(seconds, window):
    limit = RateLimit(requests=1, window_seconds=window)
    now = datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=1)
    started = window_start(now, limit)
    assert started <= now < started + timedelta(seconds=window)
    assert 1 <= rate_retry_after(2, started, now, limit) <= window


def test_an_offer_is_a_rate_or_a_price_with_ordered_dates():
    later = NOW + timedelta(days=1)

    def fields(rate: Decimal | None, price: int | None) -> list[str]:
        errors = offer_errors(
            discount_rate=rate, price_cents=price, valid_from=NOW, valid_until=later, max_redemptions=None, now=NOW
        )
        return [e.field for e in errors]

    assert fields(Decimal("0.1"), None) == []
    assert fields(None, 500) == []
    assert fields(None, None) == ["discount_rate"]
    assert fields(Decimal(1), 1) == ["discount_rate"]
    assert fields(Decimal("1.5"), None) == ["discount_rate"]
    bad = offer_errors(discount_rate=None, price_cents=1, valid_from=later, valid_until=NOW, max_redemptions=0, now=NOW)
    assert [e.field for e in bad] == ["valid_until", "max_redemptions"]
    over = offer_errors(
        discount_rate=None, price_cents=1, valid_from=NOW - timedelta(days=2), valid_until=NOW, max_redemptions=None,
        now=NOW,
    )  # fmt: skip
    assert [e.field for e in over] == ["valid_until"]


def test_a_claim_is_refused_outside_the_dates_and_past_the_cap():
    window = OfferWindow(NOW, NOW + timedelta(days=1), max_redemptions=2, claimed=1)
    assert claim_refusal(window, NOW) is None
    early = claim_refusal(window, NOW - timedelta(seconds=1))
    late = claim_refusal(window, NOW + timedelta(days=1))
    full = claim_refusal(OfferWindow(NOW, NOW + timedelta(days=1), 2, 2), NOW)
    assert (early and early.code, late and late.code, full and full.code) == (
        OFFER_NOT_YET_VALID,
        OFFER_EXPIRED,
        OFFER_CAP_REACHED,
    )
    assert claim_refusal(OfferWindow(NOW, NOW + timedelta(days=1), None, 10**6), NOW) is None


def _waiting(registration_id: int, seats: int, priority: int = 0, minutes: int = 0) -> Waiting:
    return Waiting(registration_id, seats, priority, NOW + timedelta(minutes=minutes))


def test_the_waitlist_serves_full_members_first_then_first_come_and_never_splits_a_party():
    line = [_waiting(1, 2, priority=1), _waiting(2, 3, minutes=5), _waiting(3, 1, minutes=9), _waiting(4, 1)]
    assert promotions(4, line) == [4, 2]
    assert promotions(3, line) == [4, 3]  # 2 (three) does not fit after 4, so 3 behind it goes; 1 (two) no longer fits
    assert promotions(0, line) == []


WAITING = st.lists(
    st.builds(
        Waiting,
        st.integers(min_value=1, max_value=10**6),
        st.integers(min_value=1, max_value=10),
        st.integers(min_value=0, max_value=1),
        st.datetimes(timezones=st.just(UTC)),
    ),
    max_size=30,
    unique_by=lambda w: w.registration_id,
)


@given(st.integers(min_value=0, max_value=50), WAITING)
def test_promotions_never_pass_the_free_seats_and_leave_no_party_that_fits(free, line):
    promoted = promotions(free, line)
    by_id = {w.registration_id: w for w in line}
    used = sum(by_id[i].seats for i in promoted)
    assert used <= free
    assert len(set(promoted)) == len(promoted)
    assert all(by_id[i].seats > free - used for i in by_id if i not in promoted)
    assert promotions(free, list(reversed(line))) == promoted  # the order comes from the rule, not the input


def test_registration_moves_follow_the_table():
    check_registration_move(RegistrationStatus.WAITLISTED, RegistrationStatus.CONFIRMED)
    check_registration_move(RegistrationStatus.CONFIRMED, RegistrationStatus.CANCELLED)
    with pytest.raises(ConflictError) as refused:
        check_registration_move(RegistrationStatus.CANCELLED, RegistrationStatus.CONFIRMED)
    assert refused.value.code == "registration_transition_refused"


def test_cancellations_close_at_the_deadline():
    assert cancellation_refusal(NOW, NOW - timedelta(seconds=1)) is None
    refused = cancellation_refusal(NOW, NOW)
    assert refused is not None
    assert refused.code == "cancellation_deadline_passed"


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=10**9))
def test_the_fee_is_the_member_price_per_attendee(attendees, price):
    assert registration_fee_cents(attendees, price) == attendees * price


def test_an_event_starts_later_ends_after_it_starts_and_happens_somewhere():
    later = NOW + timedelta(days=1)
    ok = event_errors(
        starts_at=later, ends_at=later + timedelta(hours=2), place="Hall", online_url=None,
        cancellation_deadline=later, now=NOW,
    )  # fmt: skip
    assert ok == []
    bad = event_errors(
        starts_at=NOW, ends_at=NOW, place=None, online_url=None, cancellation_deadline=later, now=NOW
    )  # fmt: skip
    assert [e.field for e in bad] == ["starts_at", "ends_at", "place", "cancellation_deadline"]


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.FULL])
def test_only_full_members_publish_and_claim_offers(status):
    check_offer_standing(7, Status.FULL, "the offering")
    with pytest.raises(ConflictError) as refused:
        check_offer_standing(7, status, "the claiming")
    assert refused.value.code == "member_not_full"
    assert refused.value.detail == f"the claiming member 7 is {status}; only full members publish and claim offers"


def test_attendance_is_recorded_after_the_start_for_confirmed_registrations_only():
    start = datetime(2026, 5, 1, 9, tzinfo=UTC)
    before = attendance_refusal(RegistrationStatus.CONFIRMED, start, start - timedelta(seconds=1))
    assert before is not None
    assert before.code == "event_not_started"
    assert attendance_refusal(RegistrationStatus.CONFIRMED, start, start) is None
    for status in (RegistrationStatus.WAITLISTED, RegistrationStatus.CANCELLED):
        refused = attendance_refusal(status, start, start)
        assert refused is not None
        assert refused.code == "registration_not_confirmed"


def test_a_reminder_is_due_within_the_day_before_the_start_and_not_after():
    start = datetime(2026, 5, 1, 9, tzinfo=UTC)
    assert not reminder_due(start, start - timedelta(days=1, seconds=1))
    assert reminder_due(start, start - timedelta(days=1))
    assert reminder_due(start, start - timedelta(seconds=1))
    assert not reminder_due(start, start)


def test_only_windows_before_the_current_one_are_over():
    now = datetime(2026, 5, 1, 9, 0, 30, tzinfo=UTC)
    current = window_start(now, PUBLIC_DIRECTORY_LIMIT)
    assert not window_over(current, now, PUBLIC_DIRECTORY_LIMIT)
    assert window_over(current - timedelta(seconds=1), now, PUBLIC_DIRECTORY_LIMIT)


def test_a_proposal_is_published_or_declined_once_and_only_full_members_propose():
    check_event_move(EventStatus.PROPOSED, EventStatus.PUBLISHED)
    check_event_move(EventStatus.PROPOSED, EventStatus.DECLINED)
    for current, target in (
        (EventStatus.PUBLISHED, EventStatus.DECLINED),
        (EventStatus.DECLINED, EventStatus.PUBLISHED),
        (EventStatus.PUBLISHED, EventStatus.PUBLISHED),
    ):
        with pytest.raises(ConflictError) as refused:
            check_event_move(current, target)
        assert refused.value.code == "event_transition_refused"
    check_proposer_standing(7, Status.FULL)
    for status in set(Status) - {Status.FULL}:
        with pytest.raises(ConflictError) as refused:
            check_proposer_standing(7, status)
        assert refused.value.code == "member_not_full"
    assert registration_closed(EventStatus.PUBLISHED) is None
    for unpublished in (EventStatus.PROPOSED, EventStatus.DECLINED):
        closed = registration_closed(unpublished)
        assert closed is not None
        assert closed.code == "event_not_published"


def test_the_waitlist_serves_full_members_then_other_members_then_non_members():
    assert waitlist_priority(Status.FULL) < waitlist_priority(Status.PROBATIONARY) < waitlist_priority(None)
    assert waitlist_priority(Status.RESIGNING) == waitlist_priority(Status.PROBATIONARY)
    early = datetime(2026, 5, 1, tzinfo=UTC)
    line = [
        Waiting(1, 1, waitlist_priority(None), early),
        Waiting(2, 1, waitlist_priority(Status.PROBATIONARY), early + timedelta(hours=1)),
    ]
    assert promotions(1, line) == [2]
    assert promotions(2, line) == [2, 1]


def test_members_register_while_listed_and_keep_a_profile_until_they_have_left():
    listed = {Status.PROBATIONARY, Status.FULL, Status.RESIGNING}
    for status in Status:
        if status in listed:
            check_registrant_standing(7, status)
        else:
            with pytest.raises(ConflictError) as refused:
                check_registrant_standing(7, status)
            assert refused.value.code == "member_not_in_good_standing"
        if status in {Status.FORMER, Status.EXPELLED}:
            with pytest.raises(ConflictError) as refused:
                check_profile_writer(7, status)
            assert refused.value.code == "member_not_in_good_standing"
        else:
            check_profile_writer(7, status)
