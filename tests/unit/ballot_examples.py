"""A valid new ballot to vary one field at a time, for the ballot rules' tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from domain.governance.rules import BallotKind, NewBallotRules, Threshold

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def new_ballot(**changes: object) -> NewBallotRules:
    base: dict[str, object] = {
        "kind": BallotKind.RESOLUTION,
        "record_date": date(2026, 5, 31),
        "opens_at": NOW,
        "closes_at": NOW + timedelta(days=7),
        "quorum_rate": Decimal("0.5"),
        "threshold": Threshold.TWO_THIRDS,
        "seats": None,
        "method": None,
        "candidate_names": None,
    }
    return NewBallotRules(**{**base, **changes})  # type: ignore[arg-type]
