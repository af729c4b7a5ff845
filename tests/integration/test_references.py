"""References checked once per statement (0033, 0036, 0038, 0041) hold as the foreign keys they replace did.

A posting, lot, ledger account, payout, allocation line or redemption line whose parent row
is missing is refused (SQLSTATE 23503, the foreign key's name), also as one bad row of a
set-based insert and as an update of the key; a redemption line's lot must be held by the
line's member; a posting that names a lot is on the retained equity account or the lot's own;
a lot's face is fixed; and the parents keep their keys: a referenced member, ledger account, equity
lot (its member too), allocation run or redemption run can be neither deleted, nor re-keyed,
nor truncated, so a child row once checked keeps its parent.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

MISSING = 9_000_000_000  # no row has this id


async def _one(session: Any, statement: str, **params: Any) -> int:
    value: int = (await session.execute(sa.text(statement), params)).scalar_one()
    return value


async def _family(session: Any) -> dict[str, int]:
    """A member written in plain SQL (no other rows point at it) with an account, a lot, an entry and a payout."""
    key = uuid.uuid4().hex
    member = await _one(
        session,
        "INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)"
        " VALUES ('Refs', :email, 'full', 10000, '2020-01-01', now()) RETURNING id",
        email=f"{key}@refs.test",
    )
    account = await _one(
        session,
        "INSERT INTO ledger_account (code, name, kind, member_id, created_at)"
        " VALUES (:code, 'lot', 'equity', :member, now()) RETURNING id",
        code=f"refs:{key}",
        member=member,
    )
    entry = await _one(
        session,
        "INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)"
        " VALUES ('refs', '', now(), :key) RETURNING id",
        key=f"refs:{key}",
    )
    lot = await _one(
        session,
        "INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id, account_id, created_at)"
        " VALUES (:member, 2025, 'retained_patronage', true, 100, :entry, :account, now()) RETURNING id",
        member=member,
        entry=entry,
        account=account,
    )
    await session.execute(
        sa.text(
            "INSERT INTO payout (member_id, kind, amount_cents, status, business_key, created_at)"
            " VALUES (:member, 'patronage_cash', 100, 'pending', :key, now())"
        ),
        {"member": member, "key": f"refs:{key}"},
    )
    allocation_run = await _one(
        session,
        "INSERT INTO allocation_run (fiscal_year, status, payment_date, request, created_at)"
        " VALUES (2025, 'computed', '2026-03-01', '{}', now()) RETURNING id",
    )
    redemption_run = await _one(
        session,
        "INSERT INTO redemption_run (method, status, as_of, board_budget_cents, budget_cents, outstanding_cents,"
        " redeemed_cents, line_count, member_count, created_at)"
        " VALUES ('fifo', 'computed', '2026-03-01', 100, 100, 100, 0, 0, 0, now()) RETURNING id",
    )
    return {
        "member": member,
        "account": account,
        "entry": entry,
        "lot": lot,
        "key": key,  # type: ignore[dict-item]
        "allocation_run": allocation_run,
        "redemption_run": redemption_run,
    }


# Each statement writes two rows set-based: one with a parent, one whose parent is missing.
MISSING_PARENT = [
    (
        "fk_posting_entry_id_journal_entry",
        (
            "INSERT INTO posting (entry_id, account_id, side, amount_cents)"
            " VALUES (:entry, :account, 'debit', 5), (:missing, :account, 'credit', 5)"
        ),
    ),
    (
        "fk_posting_account_id_ledger_account",
        (
            "INSERT INTO posting (entry_id, account_id, side, amount_cents)"
            " VALUES (:entry, :account, 'debit', 5), (:entry, :missing, 'credit', 5)"
        ),
    ),
    (
        "fk_equity_lot_member_id_member",
        (
            "INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id, created_at)"
            " VALUES (:member, 2024, 'imported', true, 1, :entry, now()),"
            " (:missing, 2024, 'imported', true, 1, :entry, now())"
        ),
    ),
    (
        "fk_equity_lot_account_id_ledger_account",
        (
            "INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id, account_id,"
            " created_at) VALUES (:member, 2024, 'imported', true, 1, :entry, :account, now()),"
            " (:member, 2024, 'imported', true, 1, :entry, :missing, now())"
        ),
    ),
    (
        "fk_equity_lot_entry_id_journal_entry",
        (
            "INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id, created_at)"
            " VALUES (:member, 2024, 'imported', true, 1, :entry, now()),"
            " (:member, 2024, 'imported', true, 1, :missing, now())"
        ),
    ),
    (
        "fk_posting_equity_lot_id_equity_lot",
        (
            "INSERT INTO posting (entry_id, account_id, side, amount_cents, equity_lot_id)"
            " VALUES (:entry, :account, 'debit', 5, :lot), (:entry, :account, 'credit', 5, :missing)"
        ),
    ),
    (
        "fk_equity_lot_account_id_ledger_account",  # as an import sets a lot's account after the lot
        "UPDATE equity_lot SET account_id = :missing WHERE id = :lot",
    ),
    (
        "fk_ledger_account_member_id_member",
        (
            "INSERT INTO ledger_account (code, name, kind, member_id, created_at)"
            " VALUES (:key || '-a', 'a', 'equity', :member, now()), (:key || '-b', 'b', 'equity', :missing, now())"
        ),
    ),
    (
        "fk_payout_member_id_member",
        (
            "INSERT INTO payout (member_id, kind, amount_cents, status, business_key, created_at)"
            " VALUES (:member, 'patronage_cash', 1, 'pending', :key || '-a', now()),"
            " (:missing, 'patronage_cash', 1, 'pending', :key || '-b', now())"
        ),
    ),
    ("fk_payout_member_id_member", "UPDATE payout SET member_id = :missing WHERE business_key = 'refs:' || :key"),
    (
        "fk_allocation_line_run_id_allocation_run",
        (
            "INSERT INTO allocation_line (run_id, member_id, member_number, patronage_cents, computed_cents,"
            " allocation_cents, cash_cents, retained_cents, loan_deduction_cents, qualified, below_minimum)"
            " VALUES (:allocation_run, :member, 1, 1, 1, 1, 0, 1, 0, false, false),"
            " (:missing, :member, 1, 1, 1, 1, 0, 1, 0, false, false)"
        ),
    ),
    (
        "fk_allocation_line_member_id_member",
        (
            "INSERT INTO allocation_line (run_id, member_id, member_number, patronage_cents, computed_cents,"
            " allocation_cents, cash_cents, retained_cents, loan_deduction_cents, qualified, below_minimum)"
            " VALUES (:allocation_run, :member, 1, 1, 1, 1, 0, 1, 0, false, false),"
            " (:allocation_run, :missing, 1, 1, 1, 1, 0, 1, 0, false, false)"
        ),
    ),
    (
        "fk_redemption_line_run_id_redemption_run",
        (
            "INSERT INTO redemption_line (run_id, lot_id, member_id, member_number, fiscal_year, qualified,"
            " amount_cents) VALUES (:redemption_run, :lot, :member, 1, 2025, true, 5),"
            " (:missing, :lot, :member, 1, 2025, true, 5)"
        ),
    ),
    (
        "fk_redemption_line_lot_id_equity_lot",
        (
            "INSERT INTO redemption_line (run_id, lot_id, member_id, member_number, fiscal_year, qualified,"
            " amount_cents) VALUES (:redemption_run, :lot, :member, 1, 2025, true, 5),"
            " (:redemption_run, :missing, :member, 1, 2025, true, 5)"
        ),
    ),
    (
        "fk_redemption_line_lot_id_equity_lot",  # the lot exists, but another member holds it
        (
            "WITH other AS (INSERT INTO redemption_run (method, status, as_of, board_budget_cents, budget_cents,"
            " outstanding_cents, redeemed_cents, line_count, member_count, created_at)"
            " VALUES ('fifo', 'computed', '2026-03-01', 1, 1, 1, 0, 0, 0, now()) RETURNING id)"
            " INSERT INTO redemption_line (run_id, lot_id, member_id, member_number, fiscal_year, qualified,"
            " amount_cents) VALUES (:redemption_run, :lot, :member, 1, 2025, true, 5),"
            " ((SELECT id FROM other), :lot, :missing, 1, 2025, true, 5)"
        ),
    ),
]


@pytest.mark.parametrize(("name", "statement"), MISSING_PARENT)
async def test_a_row_whose_parent_is_missing_is_refused(session, name, statement):
    family = await _family(session)
    with pytest.raises(IntegrityError, match=f'violates foreign key constraint "{name}"') as caught:
        await session.execute(sa.text(statement), {**family, "missing": MISSING})
    assert getattr(caught.value.orig, "sqlstate", None) == "23503"


async def test_parents_written_by_the_same_statement_are_found(session):
    """The account, the entry, the lot pointing at both and postings naming the lot, in one statement."""
    family = await _family(session)
    written = await _one(
        session,
        """
        WITH account AS (
          INSERT INTO ledger_account (code, name, kind, member_id, created_at)
          VALUES (:key || '-same', 'lot', 'equity', :member, now()) RETURNING id
        ), entry AS (
          INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)
          VALUES ('refs', '', now(), :key || '-same') RETURNING id
        ), lot AS (
          INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id, account_id, created_at)
          SELECT :member, 2024, 'retained_patronage', true, 5, entry.id, account.id, now()
            FROM account CROSS JOIN entry RETURNING id, account_id, entry_id
        ), posted AS (
          INSERT INTO posting (entry_id, account_id, side, amount_cents, equity_lot_id)
          SELECT entry_id, account_id, 'credit', 5, NULL FROM lot
          UNION ALL
          SELECT entry_id, account_id, 'debit', 5, id FROM lot
          RETURNING id
        )
        SELECT count(*) FROM posted
        """,
        **family,
    )
    assert written == 2


async def test_a_posting_that_names_a_lot_is_on_retained_equity_or_the_lots_own_account(session):
    family = await _family(session)
    other = await _one(
        session,
        "INSERT INTO ledger_account (code, name, kind, created_at)"
        " VALUES (:key || '-x', 'x', 'asset', now()) RETURNING id",
        key=family["key"],
    )
    statement = (
        "INSERT INTO posting (entry_id, account_id, side, amount_cents, equity_lot_id)"
        " VALUES (:entry, :account, 'debit', 5, :lot), (:entry, :other, 'credit', 5, :lot)"
    )
    with pytest.raises(IntegrityError, match="must be on the retained equity account") as caught:
        await session.execute(sa.text(statement), {**family, "other": other})
    assert getattr(caught.value.orig, "sqlstate", None) == "23514"  # check_violation


async def test_a_posting_on_retained_equity_may_name_any_lot(session):
    family = await _family(session)
    retained = await _one(
        session,
        "INSERT INTO ledger_account (code, name, kind, created_at)"
        " VALUES ('coop:retained_equity', 'r', 'equity', now())"
        " ON CONFLICT (code) DO UPDATE SET name = ledger_account.name RETURNING id",
    )
    written = await _one(
        session,
        "WITH p AS (INSERT INTO posting (entry_id, account_id, side, amount_cents, equity_lot_id)"
        " VALUES (:entry, :retained, 'debit', 5, :lot), (:entry, :account, 'credit', 5, NULL) RETURNING id)"
        " SELECT count(*) FROM p",
        **family,
        retained=retained,
    )
    assert written == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE equity_lot SET face_cents = face_cents + 1 WHERE id = :lot",
        "UPDATE equity_lot SET entry_id = :entry WHERE id = :lot",
    ],
)
async def test_a_lots_face_and_its_entry_are_fixed(session, statement):
    family = await _family(session)
    other_entry = await _one(
        session,
        "INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)"
        " VALUES ('refs', '', now(), :key || '-other') RETURNING id",
        key=family["key"],
    )
    with pytest.raises(IntegrityError, match="cannot change") as caught:
        await session.execute(sa.text(statement), {**family, "entry": other_entry})
    assert getattr(caught.value.orig, "sqlstate", None) == "23001"  # restrict_violation


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM member WHERE id = :member",
        "UPDATE member SET id = :missing WHERE id = :member",
        "DELETE FROM ledger_account WHERE id = :account",
        "UPDATE ledger_account SET id = :missing WHERE id = :account",
        "DELETE FROM allocation_run WHERE id = :allocation_run",
        "UPDATE allocation_run SET id = :missing WHERE id = :allocation_run",
        "DELETE FROM redemption_run WHERE id = :redemption_run",
        "UPDATE redemption_run SET id = :missing WHERE id = :redemption_run",
        "DELETE FROM equity_lot WHERE id = :lot",
        "UPDATE equity_lot SET id = :missing WHERE id = :lot",
        "UPDATE equity_lot SET member_id = :missing WHERE id = :lot",
    ],
)
async def test_a_referenced_parent_keeps_its_key(session, statement):
    """The parent's only children are rows checked per statement: without the triggers the delete would pass."""
    family = await _family(session)
    with pytest.raises(IntegrityError, match=r"is not allowed: its rows are referenced by key") as caught:
        await session.execute(sa.text(statement), {**family, "missing": MISSING})
    assert getattr(caught.value.orig, "sqlstate", None) == "23001"  # restrict_violation


@pytest.mark.parametrize("table", ["member", "ledger_account", "equity_lot", "allocation_run", "redemption_run"])
async def test_a_parent_table_cannot_be_truncated(session, table):
    # CASCADE empties the tables that still have a foreign key to it, not the ones checked by trigger.
    with pytest.raises(DBAPIError, match=f"TRUNCATE on {table} is not allowed"):
        await session.execute(sa.text(f"TRUNCATE {table} CASCADE"))


# A set-based statement whose rows all have one parent, as a run's postings (its one entry) and a
# run's lines (the run) are written: 0039 probes the parent once per distinct key, not per row.
ONE_PARENT_MANY_ROWS = [
    (
        "pk_journal_entry",
        (
            "INSERT INTO posting (entry_id, account_id, side, amount_cents)"
            " SELECT :entry, :account, 'credit', 1 FROM generate_series(1, :rows)"
        ),
    ),
    (
        "pk_allocation_run",
        (  # one line a member: the members are written first, by the same statement
            "WITH m AS (INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)"
            " SELECT 'Refs', :key || '-' || g || '@refs.test', 'full', 10000, '2020-01-01', now()"
            " FROM generate_series(1, :rows) g RETURNING id)"
            " INSERT INTO allocation_line (run_id, member_id, member_number, patronage_cents, computed_cents,"
            " allocation_cents, cash_cents, retained_cents, loan_deduction_cents, qualified, below_minimum)"
            " SELECT :allocation_run, id, id, 1, 1, 1, 0, 1, 0, false, false FROM m"
        ),
    ),
    (
        "pk_redemption_run",
        (  # one line a lot: the lots are written first, by the same statement
            "WITH lot AS (INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id,"
            " account_id, created_at) SELECT :member, 2025, 'retained_patronage', true, 5, :entry, :account, now()"
            " FROM generate_series(1, :rows) RETURNING id)"
            " INSERT INTO redemption_line (run_id, lot_id, member_id, member_number, fiscal_year, qualified,"
            " amount_cents) SELECT :redemption_run, id, :member, 1, 2025, true, 5 FROM lot"
        ),
    ),
]


@pytest.mark.parametrize(("parent_key", "statement"), ONE_PARENT_MANY_ROWS)
async def test_one_parent_of_many_rows_is_probed_once(session, parent_key, statement):
    """Counted by the transaction's own scans of the parent's key (pg_stat_get_xact_numscans), no other session's."""
    family = await _family(session)
    probes = "SELECT pg_stat_get_xact_numscans(CAST(:name AS regclass))"
    before = await _one(session, probes, name=parent_key)
    await session.execute(sa.text(statement), {**family, "rows": 50})
    after = await _one(session, probes, name=parent_key)
    assert after - before <= 2  # the check's one probe (and the open-entry check's, for postings); was 50
