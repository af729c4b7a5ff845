"""Ballots, their candidates, the voter roll, the cast ballots and the stored result.

Secrecy is in the shape of the tables: `ballot_voter` says who voted and nothing else;
`cast_ballot` says what was chosen and nothing else (no member, no time, no sequence: its
key is the random receipt). The only link while a ballot is open is `slot`, a keyed hash
of the member under the ballot's own `seal`, so a member's second vote can replace its
first; the close erases both, and from then on nothing joins the two tables.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class Ballot(SQLModel, table=True):
    """A resolution or a board election, with its record date, window and quorum (DOMAIN.md §7)."""

    __tablename__ = "ballot"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('resolution','election')", name="kind"),
        sa.CheckConstraint("status IN ('scheduled','open','closed')", name="status"),
        sa.CheckConstraint(
            "threshold IS NULL OR threshold IN ('majority','two_thirds','three_quarters')", name="threshold"
        ),
        sa.CheckConstraint("method IS NULL OR method IN ('stv','plurality')", name="method"),
        sa.CheckConstraint("quorum_rate BETWEEN 0 AND 1", name="quorum_rate"),
        sa.CheckConstraint("opens_at < closes_at", name="opens_before_closing"),
        sa.CheckConstraint(
            "(kind = 'resolution' AND threshold IS NOT NULL AND seats IS NULL AND method IS NULL)"
            " OR (kind = 'election' AND threshold IS NULL AND seats >= 1 AND method IS NOT NULL)",
            name="kind_fields",
        ),
        # The seal exists only while votes may still be replaced.
        sa.CheckConstraint("status <> 'closed' OR seal IS NULL", name="seal_erased_at_close"),
        sa.CheckConstraint("proxy_cap IS NULL OR proxy_cap BETWEEN 1 AND 100", name="proxy_cap"),
        sa.Index("ix_ballot_status_opens_at", "status", "opens_at"),
        sa.Index("ix_ballot_status_closes_at", "status", "closes_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    title: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    status: str = Field(max_length=16)
    record_date: date
    opens_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    closes_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    quorum_rate: Decimal = Field(sa_type=sa.Numeric(9, 6))
    threshold: str | None = Field(default=None, max_length=16)
    seats: int | None = Field(default=None)
    method: str | None = Field(default=None, max_length=16)
    secret: bool = Field(default=True)
    # Proxies are off unless set: then the most proxies one member may hold for this ballot.
    proxy_cap: int | None = Field(default=None)
    seal: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    created_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
    opened_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class BallotCandidate(SQLModel, table=True):
    """A candidate of an election, in the order staff listed them."""

    __tablename__ = "ballot_candidate"
    __table_args__ = (sa.UniqueConstraint("ballot_id", "position", name="uq_ballot_candidate_position"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    ballot_id: int = Field(sa_type=sa.BigInteger, foreign_key="ballot.id", index=True)
    position: int
    name: str = Field(max_length=200)


class BallotProxy(SQLModel, table=True):
    """A full member's appointment of another full member to vote for it on one ballot."""

    __tablename__ = "ballot_proxy"
    __table_args__ = (sa.CheckConstraint("grantor_member_id <> holder_member_id", name="not_self"),)

    ballot_id: int = Field(sa_type=sa.BigInteger, foreign_key="ballot.id", primary_key=True)
    grantor_member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True)
    holder_member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # Set by the holder's first vote under it: from then on the appointment can no longer be revoked.
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class BallotVoter(SQLModel, table=True):
    """The voter roll of a ballot: a member voted. Nothing else, so nothing joins it to a choice."""

    __tablename__ = "ballot_voter"

    ballot_id: int = Field(sa_type=sa.BigInteger, foreign_key="ballot.id", primary_key=True)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True)


class CastBallot(SQLModel, table=True):
    """What one voter chose, under a random receipt; never a member, a time or a sequence number."""

    __tablename__ = "cast_ballot"
    __table_args__ = (
        sa.CheckConstraint("choice IS NULL OR choice IN ('yes','no','abstain')", name="choice"),
        sa.CheckConstraint("(choice IS NULL) <> (ranking IS NULL)", name="choice_or_ranking"),
        # One counted ballot per voter while open: a second vote replaces the first.
        sa.UniqueConstraint("ballot_id", "slot", name="uq_cast_ballot_slot"),
    )

    ballot_id: int = Field(sa_type=sa.BigInteger, foreign_key="ballot.id", primary_key=True)
    receipt: str = Field(max_length=64, primary_key=True)
    slot: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    choice: str | None = Field(default=None, max_length=16)
    ranking: list[int] | None = Field(default=None, sa_type=sa.ARRAY(sa.BigInteger))


class BallotResult(SQLModel, table=True):
    """The count, computed once at close; a trigger refuses any change (migration 0015)."""

    __tablename__ = "ballot_result"

    ballot_id: int = Field(sa_type=sa.BigInteger, foreign_key="ballot.id", primary_key=True)
    result: dict[str, Any] = Field(sa_type=JSONB)
    computed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class RecordedVote(SQLModel, table=True):
    """Who chose what on a ballot that is not secret (`secret: false`); never written for a secret one."""

    __tablename__ = "recorded_vote"
    __table_args__ = (
        sa.CheckConstraint("choice IS NULL OR choice IN ('yes','no','abstain')", name="choice"),
        sa.CheckConstraint("(choice IS NULL) <> (ranking IS NULL)", name="choice_or_ranking"),
    )

    ballot_id: int = Field(sa_type=sa.BigInteger, foreign_key="ballot.id", primary_key=True)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True)
    choice: str | None = Field(default=None, max_length=16)
    ranking: list[int] | None = Field(default=None, sa_type=sa.ARRAY(sa.BigInteger))


class Meeting(SQLModel, table=True):
    """An annual or extraordinary general meeting; its notice went to members through the outbox when scheduled."""

    __tablename__ = "meeting"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('agm','egm')", name="kind"),
        sa.CheckConstraint("quorum_rate BETWEEN 0 AND 1", name="quorum_rate"),
        sa.Index("ix_meeting_starts_at", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    kind: str = Field(max_length=8)
    title: str = Field(max_length=200)
    starts_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    record_date: date
    quorum_rate: Decimal = Field(sa_type=sa.Numeric(9, 6))
    notice_sent_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    created_by: int | None = Field(default=None, sa_type=sa.BigInteger)


class MeetingItem(SQLModel, table=True):
    """An item of a meeting's agenda, which may carry a ballot (a ballot belongs to one meeting at most)."""

    __tablename__ = "meeting_item"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "position", name="uq_meeting_item_position"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    meeting_id: int = Field(sa_type=sa.BigInteger, foreign_key="meeting.id")
    position: int
    title: str = Field(max_length=200)
    ballot_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="ballot.id", unique=True)


class MeetingAttendance(SQLModel, table=True):
    """A member present at a meeting, in person or online: one row per member."""

    __tablename__ = "meeting_attendance"
    __table_args__ = (sa.CheckConstraint("mode IN ('in_person','online')", name="mode"),)

    meeting_id: int = Field(sa_type=sa.BigInteger, foreign_key="meeting.id", primary_key=True)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True)
    mode: str = Field(max_length=16)
    recorded_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    recorded_by: int | None = Field(default=None, sa_type=sa.BigInteger)


class MeetingMinutes(SQLModel, table=True):
    """A meeting's minutes: editable until approved at the next meeting, then immutable (trigger, migration 0022)."""

    __tablename__ = "meeting_minutes"
    __table_args__ = (
        sa.CheckConstraint("(approved_at IS NULL) = (approved_at_meeting_id IS NULL)", name="approval_complete"),
    )

    meeting_id: int = Field(sa_type=sa.BigInteger, foreign_key="meeting.id", primary_key=True)
    text: str = Field(sa_type=sa.Text)
    recorded_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    approved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    approved_at_meeting_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="meeting.id")


class Petition(SQLModel, table=True):
    """Members asking for an EGM or a bylaw amendment; `met` once enough full members signed."""

    __tablename__ = "petition"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('egm','bylaw_amendment')", name="kind"),
        sa.CheckConstraint("status IN ('open','met','scheduled')", name="status"),
        sa.CheckConstraint("(status = 'open') = (met_at IS NULL)", name="met_at_when_met"),
        sa.CheckConstraint("(status = 'scheduled') = (meeting_id IS NOT NULL)", name="meeting_when_scheduled"),
        sa.CheckConstraint("status <> 'scheduled' OR kind = 'egm'", name="only_egm_scheduled"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    kind: str = Field(max_length=16)
    text: str = Field(sa_type=sa.Text)
    status: str = Field(max_length=16)
    opened_by_member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id")
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # The signatures needed when it was met (the number of full members moves after).
    needed_at_met: int | None = Field(default=None)
    met_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    meeting_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="meeting.id", unique=True)


class PetitionSignature(SQLModel, table=True):
    """A full member's signature on a petition, once per member (primary key)."""

    __tablename__ = "petition_signature"

    petition_id: int = Field(sa_type=sa.BigInteger, foreign_key="petition.id", primary_key=True)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True)
    signed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    signed_by: int | None = Field(default=None, sa_type=sa.BigInteger)
