"""Foreign keys checked once per statement instead of once per row (migrations 0033, 0036, 0038, 0039 and 0041).

A foreign key runs one lookup of the parent per written row; the year end and a redemption run
write 100,000-400,000 rows a statement. Here a key becomes a statement trigger of the same
name over the statement's new rows that refuses it if one has no parent (one anti-join; same
SQLSTATE 23503, same constraint name, at the same moment: the end of the statement). A foreign
key also keeps its parent from going away; here the parent table refuses DELETE, a change of
`id` and TRUNCATE, so a child row once checked keeps its parent.
"""

from __future__ import annotations

# One function per key, its query written out (static SQL): PL/pgSQL keeps its plan for the
# session. The same check through one generic function and EXECUTE, planned at each call, made
# a two-posting insert cost 1.8 ms, the foreign keys 0.7 ms, this 0.6 ms. The kept plan is
# pinned to what a foreign key does, one primary-key probe of the parent per new row, never a
# sort, hash or scan of the whole parent: a plan chosen by its first call's estimates would be
# kept for calls it does not fit (a parent table seen nearly empty, then 100,000 parents
# written by the statement checked; or a hash of millions of parents built for a two-row insert).
_PRESENT = """
CREATE {or_replace}FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET enable_material = off AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.{column} INTO missing FROM {rows} n
     WHERE n.{column} IS NOT NULL AND NOT EXISTS (SELECT FROM {parent} p WHERE p.id = n.{column}) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key constraint "{name}"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key ({column})=(%s) is not present in table "{parent}".', missing),
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = '{table}', COLUMN = '{column}', CONSTRAINT = '{name}';
    END IF;
    RETURN NULL;
END $$
"""
# Every new row, probed one by one.
_EACH_ROW = "new_rows"
# Each distinct key once (0039): for a key that a set-based statement writes with one value (the
# entry of a run's postings, the run of its lines), 100,000 probes of the same parent become one,
# for a hash of the statement's keys.
_EACH_KEY = "(SELECT DISTINCT {column} FROM new_rows)"
# A key of two columns, (first, second) -> parent (id, second): the same check, one probe of the
# parent's primary key per new row with the second column compared on the row found.
_PAIR_PRESENT = """
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET enable_material = off AS $$
DECLARE
    missing record;
BEGIN
    SELECT n.{first} AS first, n.{second} AS second INTO missing FROM new_rows n
     WHERE n.{first} IS NOT NULL AND n.{second} IS NOT NULL
       AND NOT EXISTS (SELECT FROM {parent} p WHERE p.id = n.{first} AND p.{second} = n.{second}) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key constraint "{name}"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key ({first}, {second})=(%s, %s) is not present in table "{parent}".',
                                  missing.first, missing.second),
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = '{table}', COLUMN = '{first}', CONSTRAINT = '{name}';
    END IF;
    RETURN NULL;
END $$
"""
KEY_KEPT_FUNCTION = """
CREATE FUNCTION coop_referenced_key_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: its rows are referenced by key, checked per statement',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$
"""


def _name(table: str, column: str, parent: str) -> str:
    return f"fk_{table}_{column}_{parent}"


def _triggers(table: str, name: str, *, updates: bool) -> list[str]:
    statements = [
        (
            f"CREATE TRIGGER {name} AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        ),
    ]
    if updates:  # an append-only table refuses UPDATE already
        statements.append(
            f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {table} REFERENCING NEW TABLE AS new_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    return statements


def checked_per_statement(table: str, column: str, parent: str, *, updates: bool) -> list[str]:
    """The foreign key table.column -> parent.id dropped and checked by its statement trigger."""
    name = _name(table, column, parent)
    return [
        f"ALTER TABLE {table} DROP CONSTRAINT {name}",
        *checked_per_statement_added(table, column, parent, updates=updates),
    ]


def checked_per_statement_added(table: str, column: str, parent: str, *, updates: bool) -> list[str]:
    """A reference table.column -> parent.id, new, checked by its statement trigger from the start."""
    name = _name(table, column, parent)
    return [
        _PRESENT.format(table=table, column=column, parent=parent, name=name, or_replace="", rows=_EACH_ROW),
        *_triggers(table, name, updates=updates),
    ]


def checks_dropped(table: str, column: str, parent: str, *, updates: bool) -> list[str]:
    """The statement check of a reference added by ``checked_per_statement_added`` dropped (downgrade)."""
    return _dropped_triggers(table, _name(table, column, parent), updates=updates)


def probed_once_per_key(table: str, column: str, parent: str) -> str:
    """The statement check of table.column replaced by one that probes each distinct key once."""
    name = _name(table, column, parent)
    rows = _EACH_KEY.format(column=column)
    return _PRESENT.format(table=table, column=column, parent=parent, name=name, or_replace="OR REPLACE ", rows=rows)


def probed_once_per_row(table: str, column: str, parent: str) -> str:
    """Back to probing each new row (downgrade)."""
    name = _name(table, column, parent)
    return _PRESENT.format(
        table=table, column=column, parent=parent, name=name, or_replace="OR REPLACE ", rows=_EACH_ROW
    )


def pair_checked_per_statement(table: str, first: str, second: str, parent: str, *, updates: bool) -> list[str]:
    """The foreign key table (first, second) -> parent (id, second), named by first, checked per statement."""
    name = _name(table, first, parent)
    return [
        f"ALTER TABLE {table} DROP CONSTRAINT {name}",
        _PAIR_PRESENT.format(table=table, first=first, second=second, parent=parent, name=name),
        *_triggers(table, name, updates=updates),
    ]


def _dropped_triggers(table: str, name: str, *, updates: bool) -> list[str]:
    statements = [f"DROP TRIGGER {name}_upd ON {table}"] if updates else []
    return [*statements, f"DROP TRIGGER {name} ON {table}", f"DROP FUNCTION {name}()"]


def pair_checked_per_row(table: str, first: str, second: str, parent: str, *, updates: bool) -> list[str]:
    """Back to the two-column foreign key (downgrade)."""
    name = _name(table, first, parent)
    return [
        *_dropped_triggers(table, name, updates=updates),
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({first}, {second}) REFERENCES {parent} (id, {second})",
    ]


def checked_per_row(table: str, column: str, parent: str, *, updates: bool) -> list[str]:
    """Back to the foreign key (downgrade)."""
    name = _name(table, column, parent)
    return [
        *_dropped_triggers(table, name, updates=updates),
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {parent} (id)",
    ]


def key_kept(parent: str, key: tuple[str, ...] = ("id",)) -> list[str]:
    """The parent's rows can be neither deleted, nor re-keyed (any column of ``key`` changed), nor truncated."""
    changed = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in key)
    return [
        (
            f"CREATE TRIGGER {parent}_not_deleted BEFORE DELETE ON {parent}"
            " FOR EACH ROW EXECUTE FUNCTION coop_referenced_key_kept()"
        ),
        (
            f"CREATE TRIGGER {parent}_id_kept BEFORE UPDATE OF {', '.join(key)} ON {parent}"
            f" FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION coop_referenced_key_kept()"
        ),
        (
            f"CREATE TRIGGER {parent}_no_truncate BEFORE TRUNCATE ON {parent}"
            " FOR EACH STATEMENT EXECUTE FUNCTION coop_referenced_key_kept()"
        ),
    ]


def key_not_kept(parent: str) -> list[str]:
    """Back to a parent whose rows its foreign keys keep (downgrade)."""
    return [
        f"DROP TRIGGER {parent}_no_truncate ON {parent}",
        f"DROP TRIGGER {parent}_id_kept ON {parent}",
        f"DROP TRIGGER {parent}_not_deleted ON {parent}",
    ]
