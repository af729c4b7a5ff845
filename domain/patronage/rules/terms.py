"""The board's allocation terms: rounding, funds, non-member share, losses, and the country profiles."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from domain.errors import FieldError, InvalidInputError
from domain.patronage.rules._checks import is_int

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "PROFILES",
    "QUALIFIED_CASH_RATE",
    "AllocationRounding",
    "AllocationTerms",
    "Fund",
    "LossPolicy",
    "NonmemberShare",
    "policy_errors",
    "policy_from_profile",
]

QUALIFIED_CASH_RATE = Decimal("0.20")
"""IRC 1388(c)(1)(A): at least 20% of a qualified patronage dividend is paid in cash."""


class AllocationRounding(enum.StrEnum):
    """How the distributable amount of a pool is split among its members."""

    LARGEST_REMAINDER = "largest_remainder"
    """LRM: the parts sum exactly to the distributable amount."""
    RESIDUE_TO_RESERVE = "residue_to_reserve"
    """Each member gets FLOOR of the exact share; the residue cents go to unallocated equity."""


class NonmemberShare(enum.StrEnum):
    """What happens to the non-member share of margin; only retention is lawful here."""

    RETAIN = "retain"


class LossPolicy(enum.StrEnum):
    """DOMAIN.md section 6: how a pool's loss is handled."""

    CARRY_FORWARD = "carry_forward"
    CHARGE_MEMBERS = "charge_members"
    ABSORB_RESERVES = "absorb_reserves"


_ROUNDINGS = frozenset(m.value for m in AllocationRounding)
_NONMEMBER_SHARES = frozenset(m.value for m in NonmemberShare)
_LOSS_POLICIES = frozenset(m.value for m in LossPolicy)


# --- policy --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fund:
    """A fund taken from the member share before allocation: ``CEIL(M_p * rate)``."""

    name: str
    rate: Decimal
    indivisible: bool
    """Indivisible funds can never be credited to members."""


@dataclass(frozen=True, slots=True)
class AllocationTerms:
    """The board's allocation terms for one fiscal year (the API calls them ``policy``)."""

    cash_rate: Decimal
    min_allocation_cents: int = 0
    funds: tuple[Fund, ...] = ()
    """Taken in this order; an earlier fund has priority when rounding runs out of cents."""
    rounding: AllocationRounding = AllocationRounding.LARGEST_REMAINDER
    nonmember_share: NonmemberShare = NonmemberShare.RETAIN
    loss_policy: LossPolicy = LossPolicy.CARRY_FORWARD

    def __post_init__(self) -> None:
        """Accept the enums' string values and a list of funds; policy_errors judges the rest."""
        if isinstance(self.funds, list):
            object.__setattr__(self, "funds", tuple(self.funds))
        for name, enum_type in (
            ("rounding", AllocationRounding),
            ("nonmember_share", NonmemberShare),
            ("loss_policy", LossPolicy),
        ):
            value = getattr(self, name)
            if isinstance(value, str) and not isinstance(value, enum_type) and value in enum_type.__members__.values():
                object.__setattr__(self, name, enum_type(value))


_POLICY_FIELDS = frozenset(f.name for f in fields(AllocationTerms))

# The percentages of the non-US profiles are the statutory minimums of DOMAIN.md
# section 3, all taken from the member share M_p (step 2). The default cash rate
# is 20% everywhere so that a US co-op using a foreign preset still issues
# qualified notices; override ``cash_rate`` (e.g. 0 for Mondragon-style capital
# accounts credited entirely, which makes the notices non-qualified).
#
# France (SCOP): the ">= 25% to employees" (part travail) is not a member
# allocation: a purchasing co-op's members are businesses, not its employees. It is
# modelled as the fund ``employee_share`` with ``indivisible=True`` (never credited
# to members), so it is carved out of the member share before allocation; the
# service posts it to an employee profit-sharing liability rather than a reserve.
# Override ``funds`` to drop it where no employee share is owed.
PROFILES: Mapping[str, AllocationTerms] = MappingProxyType(
    {
        "us": AllocationTerms(cash_rate=QUALIFIED_CASH_RATE),
        "mondragon": AllocationTerms(
            cash_rate=QUALIFIED_CASH_RATE,
            funds=(
                Fund("obligatory_reserve", Decimal("0.45"), indivisible=True),
                Fund("education_social_fund", Decimal("0.10"), indivisible=True),
            ),
        ),
        "italy": AllocationTerms(
            cash_rate=QUALIFIED_CASH_RATE,
            funds=(
                Fund("legal_reserve", Decimal("0.30"), indivisible=True),
                Fund("mutualistic_fund", Decimal("0.03"), indivisible=True),
            ),
        ),
        "spain": AllocationTerms(
            cash_rate=QUALIFIED_CASH_RATE,
            funds=(
                Fund("obligatory_reserve_fund", Decimal("0.20"), indivisible=True),
                Fund("education_promotion_fund", Decimal("0.05"), indivisible=True),
            ),
        ),
        "france_scop": AllocationTerms(
            cash_rate=QUALIFIED_CASH_RATE,
            funds=(
                Fund("legal_reserve", Decimal("0.15"), indivisible=True),
                Fund("employee_share", Decimal("0.25"), indivisible=True),
            ),
        ),
    }
)


def _rate_errors(value: object, field: str) -> list[FieldError]:
    if not isinstance(value, Decimal) or not value.is_finite():
        return [FieldError(field, "must be a decimal rate")]
    if not Decimal(0) <= value <= Decimal(1):
        return [FieldError(field, "must be between 0 and 1")]
    return []


def _fund_errors(funds: object, field: str) -> list[FieldError]:
    if not isinstance(funds, tuple):
        return [FieldError(field, "must be a list of funds")]
    errors: list[FieldError] = []
    names: set[str] = set()
    total = Decimal(0)
    for i, fund in enumerate(funds):
        where = f"{field}[{i}]"
        if not isinstance(fund, Fund):
            errors.append(FieldError(where, "must be a fund with name, rate and indivisible"))
            continue
        if not isinstance(fund.name, str) or not fund.name.strip():
            errors.append(FieldError(f"{where}.name", "must not be empty"))
        elif fund.name in names:
            errors.append(FieldError(f"{where}.name", "is used by another fund"))
        else:
            names.add(fund.name)
        rate_errors = _rate_errors(fund.rate, f"{where}.rate")
        errors.extend(rate_errors)
        if not rate_errors:
            total += fund.rate
        if not isinstance(fund.indivisible, bool):
            errors.append(FieldError(f"{where}.indivisible", "must be true or false"))
    if total > 1:
        errors.append(FieldError(field, f"fund rates sum to {total}, more than 1"))
    return errors


def policy_errors(policy: AllocationTerms, prefix: str = "policy") -> list[FieldError]:
    """What is wrong with ``policy``, field by field (empty when it is usable).

    A cash rate below 20% is allowed: the notices are then non-qualified.
    """
    p = f"{prefix}." if prefix else ""
    errors = _rate_errors(policy.cash_rate, f"{p}cash_rate")
    if not is_int(policy.min_allocation_cents) or policy.min_allocation_cents < 0:
        errors.append(FieldError(f"{p}min_allocation_cents", "must be a whole number of cents, at least 0"))
    errors.extend(_fund_errors(policy.funds, f"{p}funds"))
    if policy.rounding not in _ROUNDINGS:
        errors.append(FieldError(f"{p}rounding", f"must be one of {', '.join(sorted(_ROUNDINGS))}"))
    if policy.nonmember_share not in _NONMEMBER_SHARES:
        errors.append(FieldError(f"{p}nonmember_share", f"must be one of {', '.join(sorted(_NONMEMBER_SHARES))}"))
    if policy.loss_policy not in _LOSS_POLICIES:
        errors.append(FieldError(f"{p}loss_policy", f"must be one of {', '.join(sorted(_LOSS_POLICIES))}"))
    return errors


def _as_rate(value: object) -> object:
    """Strings and ints become Decimal; anything else (float!) is left for policy_errors to refuse."""
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _as_fund(value: object) -> object:
    if isinstance(value, Fund):
        return value
    if isinstance(value, dict) and {"name", "rate", "indivisible"} <= value.keys():
        return Fund(value["name"], _as_rate(value["rate"]), value["indivisible"])  # type: ignore[arg-type]
    return value


def policy_from_profile(name: str, overrides: Mapping[str, object] | None = None) -> AllocationTerms:
    """The preset ``name`` of :data:`PROFILES` with ``overrides`` (policy field -> value) applied.

    ``funds`` may be given as Fund objects or as ``{name, rate, indivisible}`` dicts;
    rates may be Decimal, int or decimal strings (never float). Raises
    InvalidInputError for an unknown profile or field, or an invalid result.
    """
    base = PROFILES.get(name)
    if base is None:
        raise InvalidInputError(
            f"unknown allocation profile {name!r}",
            [FieldError("policy.profile", f"must be one of {', '.join(sorted(PROFILES))}")],
        )
    changes: dict[str, Any] = dict(overrides or {})
    unknown = sorted(set(changes) - _POLICY_FIELDS)
    if unknown:
        raise InvalidInputError(
            "unknown allocation policy fields", [FieldError(f"policy.{key}", "unknown field") for key in unknown]
        )
    if "cash_rate" in changes:
        changes["cash_rate"] = _as_rate(changes["cash_rate"])
    if "funds" in changes:
        given = changes["funds"]
        changes["funds"] = tuple(_as_fund(f) for f in given) if isinstance(given, list | tuple) else given
    policy = replace(base, **changes)
    errors = policy_errors(policy)
    if errors:
        raise InvalidInputError("invalid allocation policy", errors)
    return policy
