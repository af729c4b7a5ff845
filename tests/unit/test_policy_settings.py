"""The co-op's settings read from the environment: defaults, and a bad value refused at start."""

import pytest

from domain.settings import CoopPolicy, Settings


def test_the_marketing_pool_defaults_and_can_be_named() -> None:
    assert CoopPolicy.from_env({}).marketing_pool == "marketing"
    assert CoopPolicy.from_env({"COOP_MARKETING_POOL": "sales_marketing"}).marketing_pool == "sales_marketing"


def test_a_marketing_pool_the_catalog_would_refuse_stops_the_start_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="COOP_MARKETING_POOL='Marketing Pool'"):
        CoopPolicy.from_env({"COOP_MARKETING_POOL": "Marketing Pool"})


@pytest.mark.parametrize(
    ("variable", "value", "bound"),
    [
        ("COOP_LOGIN_FAILURE_WINDOW_SECONDS", "-1", "at least 1"),  # a negative window never throttled
        ("COOP_LOGIN_MAX_FAILURES", "0", "at least 1"),
        ("COOP_TOKEN_TTL_SECONDS", "0", "at least 1"),
        ("COOP_TOKEN_CACHE_SECONDS", "-1", "at least 0"),
        ("COOP_DB_POOL_SIZE", "0", "at least 1"),
        ("COOP_JOB_TIMEOUT_SECONDS", "ten", "at least 1"),
        ("COOP_PORT", "70000", "from 1 to 65535"),
        ("COOP_FISCAL_YEAR_START_MONTH", "13", "from 1 to 12"),
        ("COOP_SHARE_PAR_CENTS", "-100", "at least 0"),
    ],
)
def test_a_number_out_of_range_stops_the_start_naming_the_variable(variable: str, value: str, bound: str) -> None:
    with pytest.raises(ValueError, match=f"^{variable}='{value}': must be a whole number {bound}$"):
        Settings.from_env({variable: value})


def test_numbers_at_their_bounds_are_taken() -> None:
    settings = Settings.from_env(
        {
            "COOP_LOGIN_FAILURE_WINDOW_SECONDS": "1",
            "COOP_LOGIN_MAX_FAILURES": "1",
            "COOP_TOKEN_CACHE_SECONDS": "0",  # the cache turned off
            "COOP_PORT": "65535",
            "COOP_FISCAL_YEAR_START_MONTH": "12",
            "COOP_SHARE_PAR_CENTS": "0",
        }
    )
    assert (settings.login_failure_window_seconds, settings.login_max_failures, settings.token_cache_seconds) == (
        1,
        1,
        0,
    )
    assert (settings.port, settings.policy.fiscal_year_start_month, settings.policy.share_par_cents) == (65535, 12, 0)
    assert Settings.from_env({}).login_failure_window_seconds == 900
