"""Settings from the environment, in one typed place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from domain.catalog.rules import pool_errors


@dataclass(frozen=True, slots=True)
class CoopPolicy:
    """The co-op's own settings from its bylaws and board [policy in DOMAIN.md]."""

    share_par_cents: int = 10_000
    fiscal_year_start_month: int = 1
    preferred_cap_rate: Decimal = Decimal("0.25")
    preferred_max_dividend_rate: Decimal = Decimal("0.08")
    # The patronage pool of a member-supplier's sales through the co-op (docs/network.md).
    marketing_pool: str = "marketing"

    @classmethod
    def from_env(cls, e: dict[str, str]) -> CoopPolicy:
        """Read the policy settings, defaulting to DOMAIN.md's defaults."""
        return cls(
            share_par_cents=_count(e, "COOP_SHARE_PAR_CENTS", 10_000, least=0),
            fiscal_year_start_month=_count(e, "COOP_FISCAL_YEAR_START_MONTH", 1, most=12),
            preferred_cap_rate=Decimal(e.get("COOP_PREFERRED_CAP_RATE", "0.25")),
            preferred_max_dividend_rate=Decimal(e.get("COOP_PREFERRED_MAX_DIVIDEND_RATE", "0.08")),
            marketing_pool=_pool(e.get("COOP_MARKETING_POOL") or "marketing", "COOP_MARKETING_POOL"),
        )


def _pool(name: str, variable: str) -> str:
    """A pool name as the catalog takes it; a bad one stops the process at start, naming the variable."""
    if errors := pool_errors(name, variable):
        msg = f"{variable}={name!r}: {errors[0].message}"
        raise ValueError(msg)
    return name


def _count(e: dict[str, str], variable: str, default: int, *, least: int = 1, most: int | None = None) -> int:
    """A whole number setting; one out of range stops the process at start, naming the variable.

    A zero or negative sign-in limit, window or token lifetime would quietly turn a protection
    off (a negative window never throttles), so it is refused rather than taken.
    """
    text = e.get(variable, str(default))
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < least or (most is not None and value > most):
        bound = f"from {least} to {most}" if most is not None else f"at least {least}"
        msg = f"{variable}={text!r}: must be a whole number {bound}"
        raise ValueError(msg)
    return value


DEFAULT_COOP_NAME = "Purchasing Co-operative"


@dataclass(frozen=True, slots=True)
class CoopIdentity:
    """Who the co-op is, as its letters (the written notice of allocation) state it."""

    name: str = DEFAULT_COOP_NAME
    address_lines: tuple[str, ...] = ()
    tax_id: str | None = None
    contact: str | None = None

    @classmethod
    def from_env(cls, e: dict[str, str]) -> CoopIdentity:
        """`COOP_ADDRESS` separates its lines with `;` (one environment variable, several lines)."""
        address = tuple(part.strip() for part in e.get("COOP_ADDRESS", "").split(";") if part.strip())
        return cls(
            name=e.get("COOP_NAME") or DEFAULT_COOP_NAME,
            address_lines=address,
            tax_id=e.get("COOP_TAX_ID") or None,
            contact=e.get("COOP_CONTACT") or None,
        )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the co-op's processes read from the environment."""

    data_dir: Path
    host: str
    port: int
    database_url: str | None
    redis_url: str | None
    currency: str
    token_ttl_seconds: int
    login_max_failures: int
    login_failure_window_seconds: int
    admin_email: str | None
    admin_password: str | None
    stripe_api_key: str | None
    stripe_webhook_secret: str | None
    log_level: str
    policy: CoopPolicy = field(default_factory=CoopPolicy)
    # The longest a job may run. It also bounds how long a job whose worker was killed
    # stays claimed in the queue (arq waits this plus 10 s before another worker takes it).
    job_timeout_seconds: int = 300
    # How long an API process may trust a token it checked without asking the database again
    # (revocations reach it at once through api/revocations.py; this bounds the rest).
    token_cache_seconds: int = 30
    # Connections each API process keeps open (and as many more at peaks). Below the requests
    # in flight per process, connections past the pool are opened and closed per request,
    # each preparing its statements anew. The autocommit pool (domain.db.autocommit_pool) adds
    # up to half this again. Processes x 2.5 x this must stay under max_connections.
    db_pool_size: int = 16
    coop: CoopIdentity = field(default_factory=CoopIdentity)
    # The bearer token Prometheus sends to GET /metrics; unset, /metrics answers 401 to all.
    metrics_token: str | None = None
    # Another Stripe API address (localstripe for a demo); localstripe refuses some parameters.
    stripe_api_base: str | None = None
    stripe_localstripe: bool = False
    # Stripe Connect is set up: suppliers with a connected account are paid by transfer after settlement.
    stripe_connect: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read settings; unset URLs mean the embedded servers are used."""
        e = dict(os.environ if env is None else env)
        return cls(
            data_dir=Path(e.get("COOP_DATA_DIR", ".coop")).resolve(),
            host=e.get("COOP_HOST", "127.0.0.1"),
            port=_count(e, "COOP_PORT", 8000, most=65535),
            database_url=e.get("DATABASE_URL") or None,
            redis_url=e.get("REDIS_URL") or None,
            currency=e.get("COOP_CURRENCY", "USD"),
            token_ttl_seconds=_count(e, "COOP_TOKEN_TTL_SECONDS", 3600),
            login_max_failures=_count(e, "COOP_LOGIN_MAX_FAILURES", 5),
            login_failure_window_seconds=_count(e, "COOP_LOGIN_FAILURE_WINDOW_SECONDS", 900),
            admin_email=e.get("COOP_ADMIN_EMAIL") or None,
            admin_password=e.get("COOP_ADMIN_PASSWORD") or None,
            stripe_api_key=e.get("STRIPE_API_KEY") or None,
            stripe_webhook_secret=e.get("STRIPE_WEBHOOK_SECRET") or None,
            log_level=e.get("COOP_LOG_LEVEL", "INFO"),
            policy=CoopPolicy.from_env(e),
            job_timeout_seconds=_count(e, "COOP_JOB_TIMEOUT_SECONDS", 300),
            token_cache_seconds=_count(e, "COOP_TOKEN_CACHE_SECONDS", 30, least=0),
            db_pool_size=_count(e, "COOP_DB_POOL_SIZE", 16),
            coop=CoopIdentity.from_env(e),
            metrics_token=e.get("COOP_METRICS_TOKEN") or None,
            stripe_api_base=e.get("STRIPE_API_BASE") or None,
            stripe_localstripe=e.get("STRIPE_LOCALSTRIPE", "") in {"1", "true", "yes"},
            stripe_connect=e.get("STRIPE_CONNECT", "") in {"1", "true", "yes"},
        )
