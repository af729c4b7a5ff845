"""The order change reads a decreased line's increments through the line's index, whatever the statistics.

coop_order_change (0026) took a decrease from the newest increments with a window over a join
of the changed lines and order_increment. While order_increment had no statistics (a database
just loaded, before autovacuum's first ANALYZE: the HTTP benchmark measures there) the planner
guessed hundreds of increments a line, hashed the changed lines and scanned the whole table,
once for the cut and again for the shrunk increments' UPDATE: about 6,700 rows read a change,
1.2 ms of PostgreSQL CPU of its 2.2 ms, and more as the table grew (docs/performance.md, the
thirty-seventh part). With statistics the plan could still flip to the scan.

Now:
- the cut is a LATERAL subquery per changed line holding the window, which PostgreSQL cannot
  flatten: the increments are found by line through uq_order_increment_line_seq, whatever the
  estimates; only lines with a decrease are read (an increase cuts nothing, as before: every
  increment's units stay and none matches the DELETE or the UPDATE);
- the dropped and shrunk increments are found by id in the array of the cut's ids (an index
  condition on pk_order_increment), not by a join the planner may hash over the table.

The rule, the locks, the checks and the refusals are unchanged; only that statement is.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-02
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIRST = importlib.import_module("domain.migrations.versions.0026_order_write_functions").ORDER_CHANGE

_JOINED_CUT = """\
    ), cut AS (
        SELECT i.id, i.quantity, i.flex_quantity,
               i.quantity - least(i.quantity, greatest(c.old_q - c.new_q - coalesce(sum(i.quantity) OVER newer, 0), 0))
                   AS q,
               i.flex_quantity
                   - least(i.flex_quantity, greatest(c.old_f - c.new_f - coalesce(sum(i.flex_quantity) OVER newer, 0), 0))
                   AS f
        FROM changed c JOIN order_increment i ON i.order_line_id = c.line_id
        WINDOW newer AS (PARTITION BY i.order_line_id ORDER BY i.at_seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ), dropped_increments AS (
        DELETE FROM order_increment i USING cut WHERE i.id = cut.id AND cut.q = 0 AND cut.f = 0
    ), shrunk_increments AS (
        UPDATE order_increment i SET quantity = cut.q, flex_quantity = cut.f
        FROM cut
        WHERE i.id = cut.id AND cut.q + cut.f > 0 AND (cut.q, cut.f) <> (cut.quantity, cut.flex_quantity)
"""

_CUT_BY_LINE = """\
    ), cut AS (
        -- A window inside a LATERAL subquery is not flattened: each decreased line's increments,
        -- by its index, newest first.
        SELECT i.id, i.quantity, i.flex_quantity, i.q, i.f
        FROM changed c CROSS JOIN LATERAL (
            SELECT i.id, i.quantity, i.flex_quantity,
                   i.quantity
                       - least(i.quantity, greatest(c.old_q - c.new_q - coalesce(sum(i.quantity) OVER newer, 0), 0))
                       AS q,
                   i.flex_quantity
                       - least(i.flex_quantity, greatest(c.old_f - c.new_f - coalesce(sum(i.flex_quantity) OVER newer, 0), 0))
                       AS f
            FROM order_increment i WHERE i.order_line_id = c.line_id
            WINDOW newer AS (ORDER BY i.at_seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ) AS i
        WHERE c.new_q < c.old_q OR c.new_f < c.old_f
    ), dropped_increments AS (
        DELETE FROM order_increment i WHERE i.id = ANY(ARRAY(SELECT id FROM cut WHERE q = 0 AND f = 0))
    ), shrunk_increments AS (
        -- The ids as an array: an index condition, where a join to cut could be hashed over the table.
        UPDATE order_increment i SET quantity = cut.q, flex_quantity = cut.f
        FROM cut
        WHERE i.id = ANY(ARRAY(SELECT id FROM cut)) AND i.id = cut.id
          AND cut.q + cut.f > 0 AND (cut.q, cut.f) <> (cut.quantity, cut.flex_quantity)
"""


def _or_replace(function: str) -> str:
    return function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    if _FIRST.count(_JOINED_CUT) != 1:
        msg = "migration 0026's order change no longer holds the statement this migration replaces"
        raise RuntimeError(msg)
    op.execute(_or_replace(_FIRST.replace(_JOINED_CUT, _CUT_BY_LINE)))


def downgrade() -> None:
    op.execute(_or_replace(_FIRST))
