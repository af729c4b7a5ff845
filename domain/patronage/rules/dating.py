"""Dating patronage: fiscal years, the payment period of IRC 1382(d), member business, day ranges."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta

from domain.errors import FieldError, InvalidInputError
from domain.patronage.rules._checks import is_int

__all__ = [
    "fiscal_year_end",
    "fiscal_year_of",
    "is_member_business",
    "is_within_payment_period",
    "payment_period_end",
    "utc_day_range",
]

_PAYMENT_PERIOD_MONTHS = 9
_PAYMENT_PERIOD_DAY = 15
_MONTHS = 12

# --- payment period ------------------------------------------------------------


def payment_period_end(fiscal_year_end: date) -> date:
    """IRC 1382(d): the 15th day of the 9th month after the fiscal year closes.

    >>> payment_period_end(date(2025, 12, 31))
    datetime.date(2026, 9, 15)
    """
    month_index = fiscal_year_end.month - 1 + _PAYMENT_PERIOD_MONTHS
    return date(fiscal_year_end.year + month_index // _MONTHS, month_index % _MONTHS + 1, _PAYMENT_PERIOD_DAY)


def is_within_payment_period(fiscal_year_end: date, payment_date: date) -> bool:
    """Cash and notices dated no later than :func:`payment_period_end` are in time.

    The period opens on the first day of the fiscal year, so every date of a
    year-end allocation (never before the year closes) only needs the upper bound.
    """
    return payment_date <= payment_period_end(fiscal_year_end)


# --- fiscal years and member business -------------------------------------------


def fiscal_year_of(day: date, start_month: int = 1) -> int:
    """The fiscal year ``day`` falls in, named by the calendar year in which that fiscal year ends.

    With ``start_month`` 1 it is the calendar year; with 7, July 2025 - June 2026 is FY 2026.
    """
    if not is_int(start_month) or not 1 <= start_month <= _MONTHS:
        msg = f"start_month must be 1-12, got {start_month!r}"
        raise ValueError(msg)
    return day.year + (1 if start_month > 1 and day.month >= start_month else 0)


def is_member_business(joined_at: datetime | None, left_at: datetime | None, at: datetime) -> bool:
    """Whether business done at ``at`` is member business: the buyer had joined and not yet left.

    Patronage before ``joined_at`` (or by an applicant, who has not joined) and from ``left_at``
    on is non-member business (DOMAIN.md section 3: the status at the transaction date decides).
    """
    return joined_at is not None and joined_at <= at and (left_at is None or at < left_at)


def fiscal_year_end(fiscal_year: int, start_month: int) -> date:
    """The last day of a fiscal year named by the calendar year in which it ends."""
    end_month = 12 if start_month == 1 else start_month - 1
    return date(fiscal_year, end_month, calendar.monthrange(fiscal_year, end_month)[1])


def utc_day_range(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive UTC days as a half-open range of instants: [first 00:00, the day after last 00:00).

    A range that ends before it starts is refused, naming ``occurred_to``, rather than
    answering an empty list a client would take for "no records".
    """
    if first is not None and last is not None and last < first:
        raise InvalidInputError(
            "the date range ends before it starts", [FieldError("occurred_to", "must not be before occurred_from")]
        )
    start = None if first is None else datetime.combine(first, time.min, UTC)
    end = None if last is None else datetime.combine(last + timedelta(days=1), time.min, UTC)
    return start, end
