"""The count of a ballot (DOMAIN.md §7): quorum, thresholds, plurality, STV, the ballot's states.

Pure: exact rationals (`Fraction`) from the first vote to the last transfer; nothing is
rounded except the quorum, which is a minimum and so rounds up (CEIL, DOMAIN.md §0).

STV is counted by the weighted inclusive Gregory method (WIGM): an elected candidate's
surplus goes on with every ballot it holds, each at its current weight times
surplus / tally, kept as an exact fraction (no rounding, so no vote value is lost or made).
Ties are broken by the rule in docs/governance.md: the candidate lower (for an exclusion)
or higher (for an election) at the earliest round where the tied candidates differ, then
by lot with a seed derived from the ballot id and shown in the result.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from decimal import Decimal
from domain.governance.rules.ballots import Choice, Threshold

# --- quorum and thresholds --------------------------------------------------------------


def quorum_needed(eligible: int, quorum_rate: Decimal | Fraction) -> int:
    """Ballots needed: CEIL(quorum_rate * eligible), exactly (a minimum never rounds down)."""
    return math.ceil(Fraction(quorum_rate) * eligible)


def quorum_met(cast: int, eligible: int, quorum_rate: Decimal | Fraction) -> bool:
    """Ballots cast (abstentions included) reach the quorum."""
    return cast >= quorum_needed(eligible, quorum_rate)


_SHARES: Mapping[Threshold, Fraction] = MappingProxyType(
    {Threshold.TWO_THIRDS: Fraction(2, 3), Threshold.THREE_QUARTERS: Fraction(3, 4)}
)


def threshold_met(threshold: Threshold, yes: int, no: int) -> bool:
    """``majority``: yes > no; the others: yes >= share of (yes + no), with at least one vote for or against.

    Without the last condition 0 yes and 0 no would pass two-thirds (0 >= 0); a resolution
    nobody voted for passes nothing.
    """
    if threshold is Threshold.MAJORITY:
        return yes > no
    return yes + no > 0 and yes >= _SHARES[threshold] * (yes + no)


@dataclass(frozen=True, slots=True)
class ResolutionCount:
    """The result of a resolution: eligible, cast, quorum, counts and whether it passed."""

    eligible: int
    cast: int
    quorum_needed: int
    quorum_met: bool
    yes: int
    no: int
    abstain: int
    passed: bool


def count_resolution(
    choices: Iterable[Choice],
    *,
    eligible: int,
    quorum_rate: Decimal | Fraction,
    threshold: Threshold,
    turnout: int | None = None,
) -> ResolutionCount:
    """Count yes / no / abstain; below quorum nothing passes.

    `turnout`: the members counted toward the quorum when that is not just the ballots cast
    (a meeting's ballot: its voters and the members present, docs/governance.md).
    """
    tally = dict.fromkeys(Choice, 0)
    for choice in choices:
        tally[Choice(choice)] += 1
    cast = sum(tally.values())
    needed = quorum_needed(eligible, quorum_rate)
    met = (cast if turnout is None else turnout) >= needed
    yes, no = tally[Choice.YES], tally[Choice.NO]
    return ResolutionCount(
        eligible=eligible,
        cast=cast,
        quorum_needed=needed,
        quorum_met=met,
        yes=yes,
        no=no,
        abstain=tally[Choice.ABSTAIN],
        passed=met and threshold_met(threshold, yes, no),
    )


def lot_seed(ballot_id: int) -> int:
    """The seed of the lot that breaks a tie nothing else breaks: fixed by the ballot id, so a recount agrees."""
    return int.from_bytes(hashlib.sha256(f"coop-ballot:{ballot_id}".encode()).digest()[:8], "big")


def droop_quota(valid_ballots: int, seats: int) -> int:
    """``floor(valid / (seats + 1)) + 1``."""
    return valid_ballots // (seats + 1) + 1


@dataclass(frozen=True, slots=True)
class Round:
    """One step of a count, so a member can follow it: tallies before the step, then what the step did.

    `transfers` is the vote value each continuing candidate received in this step and
    `exhausted` what no continuing candidate could take (both exact; cumulative exhausted
    is `exhausted_total`). `tie` names the rule that broke a tie in this step, if one did.
    """

    number: int
    quota: int | None
    tallies: Mapping[int, Fraction]
    elected: tuple[int, ...] = ()
    eliminated: tuple[int, ...] = ()
    transfers: Mapping[int, Fraction] = field(default_factory=dict)
    exhausted: Fraction = Fraction(0)
    exhausted_total: Fraction = Fraction(0)
    kept: Mapping[int, Fraction] = field(default_factory=dict)
    tie: str | None = None


@dataclass(frozen=True, slots=True)
class ElectionCount:
    """The result of an election: quorum, the elected in order of election, and every round."""

    eligible: int
    cast: int
    quorum_needed: int
    quorum_met: bool
    seats: int
    quota: int | None
    elected: tuple[int, ...]
    rounds: tuple[Round, ...]
    seed: int


@dataclass(slots=True)
class _Paper:
    ranking: tuple[int, ...]
    weight: Fraction
    at: int | None  # the candidate holding it, None when exhausted

    def move_on(self, continuing: set[int]) -> None:
        self.at = next((c for c in self.ranking if c in continuing), None)


class _Ties:
    """The written tie rule: the earliest round where the tied differ, then a lot with a recorded seed."""

    def __init__(self, seed: int) -> None:
        self.history: list[Mapping[int, Fraction]] = []
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible lot, not a secret

    def pick(self, tied: Sequence[int], *, lowest: bool) -> tuple[int, str | None]:
        """The one to exclude (lowest) or elect (highest) among candidates tied now."""
        if len(tied) == 1:
            return tied[0], None
        field_ = sorted(tied)
        for number, tallies in enumerate(self.history, start=1):
            values = {c: tallies.get(c, Fraction(0)) for c in field_}
            extreme = min(values.values()) if lowest else max(values.values())
            narrowed = [c for c in field_ if values[c] == extreme]
            if len(narrowed) < len(field_):
                field_ = narrowed
                if len(field_) == 1:
                    return field_[0], f"tie between {sorted(tied)} broken by the tallies of round {number}"
        chosen = self.rng.choice(field_)
        return chosen, f"tie between {field_} broken by lot (seed recorded)"


def _tallies(papers: Iterable[_Paper], continuing: Iterable[int]) -> dict[int, Fraction]:
    tallies = dict.fromkeys(sorted(continuing), Fraction(0))
    for paper in papers:
        if paper.at is not None:
            tallies[paper.at] += paper.weight
    return tallies


def _extreme(tallies: Mapping[int, Fraction], *, lowest: bool) -> list[int]:
    value = min(tallies.values()) if lowest else max(tallies.values())
    return [c for c, v in tallies.items() if v == value]


def count_stv(
    rankings: Iterable[Sequence[int]],
    *,
    candidates: Iterable[int],
    seats: int,
    eligible: int,
    quorum_rate: Decimal | Fraction,
    seed: int,
    turnout: int | None = None,
) -> ElectionCount:
    """Single transferable vote, Droop quota, weighted inclusive Gregory transfers (exact), every round kept.

    Each round either elects the continuing candidate with the most votes at or above the
    quota and passes its surplus on, or, when nobody reaches the quota, excludes the one
    with the fewest and passes its ballots on at their weight. When the continuing
    candidates are no more than the open seats, they are all elected. Below quorum
    nobody is elected.
    """
    papers = [_Paper(tuple(r), Fraction(1), None) for r in rankings if r]
    continuing = set(candidates)
    valid = len(papers)
    quota = droop_quota(valid, seats)
    needed = quorum_needed(eligible, quorum_rate)
    met = (valid if turnout is None else turnout) >= needed
    if not met:
        return ElectionCount(eligible, valid, needed, met, seats, quota, (), (), seed)
    for paper in papers:
        paper.move_on(continuing)
    ties = _Ties(seed)
    elected: list[int] = []
    kept: dict[int, Fraction] = {}
    rounds: list[Round] = []
    exhausted_total = Fraction(valid) - sum((p.weight for p in papers if p.at is not None), Fraction(0))
    elected_now: tuple[int, ...]
    eliminated_now: tuple[int, ...]
    while len(elected) < seats and continuing:
        tallies = _tallies(papers, continuing)
        ties.history.append(tallies)
        number = len(rounds) + 1
        open_seats = seats - len(elected)
        if len(continuing) <= open_seats:
            order = sorted(continuing, key=lambda c: (-tallies[c], c))
            elected.extend(order)
            kept.update(tallies)
            continuing.clear()
            rounds.append(
                Round(number, quota, tallies, elected=tuple(order), exhausted_total=exhausted_total, kept=dict(kept))
            )
            break
        reached = {c: v for c, v in tallies.items() if v >= quota}
        if reached:
            winner, tie = ties.pick(_extreme(reached, lowest=False), lowest=False)
            total = tallies[winner]
            surplus = total - quota
            continuing.discard(winner)
            elected.append(winner)
            kept[winner] = Fraction(quota)
            moved = [p for p in papers if p.at == winner]
            for paper in moved:
                paper.weight = paper.weight * surplus / total
            transfers, exhausted = _pass_on(moved, continuing)
            elected_now, eliminated_now = (winner,), ()
        else:
            loser, tie = ties.pick(_extreme(tallies, lowest=True), lowest=True)
            continuing.discard(loser)
            transfers, exhausted = _pass_on([p for p in papers if p.at == loser], continuing)
            elected_now, eliminated_now = (), (loser,)
        exhausted_total += exhausted
        rounds.append(
            Round(
                number,
                quota,
                tallies,
                elected=elected_now,
                eliminated=eliminated_now,
                transfers=transfers,
                exhausted=exhausted,
                exhausted_total=exhausted_total,
                kept=dict(kept),
                tie=tie,
            )
        )
    return ElectionCount(eligible, valid, needed, met, seats, quota, tuple(elected), tuple(rounds), seed)


def _pass_on(papers: Sequence[_Paper], continuing: set[int]) -> tuple[dict[int, Fraction], Fraction]:
    """Move ballots to their next continuing preference; what none can take is exhausted."""
    transfers: dict[int, Fraction] = {}
    exhausted = Fraction(0)
    for paper in papers:
        paper.move_on(continuing)
        if paper.at is None:
            exhausted += paper.weight
        else:
            transfers[paper.at] = transfers.get(paper.at, Fraction(0)) + paper.weight
    return dict(sorted(transfers.items())), exhausted


def count_plurality(
    rankings: Iterable[Sequence[int]],
    *,
    candidates: Iterable[int],
    seats: int,
    eligible: int,
    quorum_rate: Decimal | Fraction,
    seed: int,
    turnout: int | None = None,
) -> ElectionCount:
    """Plurality at large: a ballot is one vote for each candidate it names (at most `seats`); the most votes win.

    One round; a tie for the last seat is broken by lot with the recorded seed.
    """
    papers = [tuple(r) for r in rankings if r]
    valid = len(papers)
    needed = quorum_needed(eligible, quorum_rate)
    met = (valid if turnout is None else turnout) >= needed
    if not met:
        return ElectionCount(eligible, valid, needed, met, seats, None, (), (), seed)
    tallies = dict.fromkeys(sorted(set(candidates)), Fraction(0))
    for paper in papers:
        for candidate in paper:
            tallies[candidate] += 1
    ties = _Ties(seed)
    remaining = dict(tallies)
    elected: list[int] = []
    notes: list[str] = []
    while remaining and len(elected) < seats:
        chosen, tie = ties.pick(_extreme(remaining, lowest=False), lowest=False)
        if tie is not None:
            notes.append(tie)
        elected.append(chosen)
        del remaining[chosen]
    only = Round(1, None, tallies, elected=tuple(elected), kept=dict(tallies), tie="; ".join(notes) or None)
    return ElectionCount(eligible, valid, needed, met, seats, None, tuple(elected), (only,), seed)
