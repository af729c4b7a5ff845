"""The co-op's policy read from the environment: defaults, and a bad value refused at start."""

import pytest

from domain.settings import CoopPolicy


def test_the_marketing_pool_defaults_and_can_be_named() -> None:
    assert CoopPolicy.from_env({}).marketing_pool == "marketing"
    assert CoopPolicy.from_env({"COOP_MARKETING_POOL": "sales_marketing"}).marketing_pool == "sales_marketing"


def test_a_marketing_pool_the_catalog_would_refuse_stops_the_start_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="COOP_MARKETING_POOL='Marketing Pool'"):
        CoopPolicy.from_env({"COOP_MARKETING_POOL": "Marketing Pool"})
