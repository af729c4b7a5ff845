"""The directory's edges and what its refusals tell the client: visibility, coordinates, near searches, profiles.

A refusal's detail, code and (field, message) pairs are the problem+json a client shows, so they are pinned
exactly; the ranges' ends are allowed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from domain.membership.rules import Status
from domain.network.rules import (
    MAX_RADIUS_KM,
    Near,
    ProfileInput,
    check_profile_writer,
    check_seller_link,
    checked_profile,
    coordinate_errors,
    full_visibility,
    parse_near,
)
from tests.unit.refusals import conflict, invalid

if TYPE_CHECKING:
    from domain.errors import FieldError

PAIR = "latitude and longitude are given together or not at all"
NEAR = "must be lat,lon in degrees, e.g. 45.52,-122.68"


def _fields(errors: list[FieldError]) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in errors]


def test_unknown_fields_and_levels_are_refused_listing_what_is_allowed() -> None:
    _, errors = full_visibility({"shoe_size": "public", "city": "everyone"})
    fields = "description, categories, services, city, postcode, country, latitude, longitude, website, phone"
    assert _fields(errors) == [
        ("visibility.shoe_size", f"not a profile field; one of {fields}"),
        ("visibility.city", "must be one of members, public, staff"),
    ]


@pytest.mark.parametrize(("latitude", "longitude"), [(90.0, 180.0), (-90.0, -180.0)])
def test_the_poles_and_the_antimeridian_are_places(latitude: float, longitude: float) -> None:
    assert coordinate_errors(latitude, longitude) == []


def test_coordinates_out_of_range_or_alone_say_why() -> None:
    assert _fields(coordinate_errors(45.5, None)) == [("longitude", PAIR)]
    assert _fields(coordinate_errors(None, 10.0)) == [("latitude", PAIR)]
    assert _fields(coordinate_errors(-90.5, 180.5)) == [
        ("latitude", "must be between -90 and 90"),
        ("longitude", "must be between -180 and 180"),
    ]


@pytest.mark.parametrize("radius", [0.5, 1.0, MAX_RADIUS_KM])
def test_any_radius_above_0_up_to_half_the_earth_is_searched(radius: float) -> None:
    assert parse_near("45.5,-122.6", radius) == (Near(45.5, -122.6, radius), [])


def test_a_bad_near_search_says_what_to_send() -> None:
    assert _fields(parse_near(None, 5.0)[1]) == [("radius_km", "is given only with near=lat,lon")]
    assert _fields(parse_near("45.5;-122.6", None)[1]) == [("near", NEAR)]
    for radius in (0.0, MAX_RADIUS_KM + 0.1):
        assert _fields(parse_near("0,0", radius)[1]) == [("radius_km", "must be more than 0 and at most 20100")]


PROFILE = ProfileInput(
    listed=True,
    description="Sourdough and rye",
    categories=[" Bakery"],
    services=["delivery"],
    city="Portland",
    postcode="97214",
    country="US",
    latitude=45.5,
    longitude=-122.6,
    website="https://bakery.test",
    phone="555-0100",
    visibility={"phone": "staff"},
)


def test_a_profile_is_stored_as_given_but_for_its_categories_and_levels() -> None:
    levels = full_visibility({"phone": "staff"})[0]
    assert checked_profile(PROFILE) == replace(PROFILE, categories=["bakery"], visibility=levels)


def test_a_bad_profile_is_refused_naming_every_field() -> None:
    assert invalid(lambda: checked_profile(replace(PROFILE, longitude=None))) == (
        "the profile is not valid",
        [("longitude", PAIR)],
    )


def test_a_member_that_has_left_keeps_no_profile_and_only_a_full_one_sells() -> None:
    assert conflict(lambda: check_profile_writer(7, Status.FORMER)) == (
        "member 7 is former; a member that has left has no directory profile",
        "member_not_in_good_standing",
    )
    assert conflict(lambda: check_seller_link(7, Status.SUSPENDED)) == (
        "member 7 is suspended; only a full member in good standing can be linked as a supplier",
        "member_not_full",
    )
