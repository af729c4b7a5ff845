"""The order change and placement as one SQL function call each (issue 12, fourth part).

Each function takes the locks the order write takes (the member FOR SHARE, the buy's shared
advisory lock, the buy FOR SHARE, the order FOR UPDATE), makes its checks (the order's owner,
the member's standing, the buy open and before its deadline, the lines offered) and writes
the lines, their increments, the buy's running totals and the order, in one round trip. Called
outside a transaction it is one on its own, so it costs no BEGIN and no COMMIT either.

In a card-mode buy, unless `p_card_ok`, a function returns after its checks without writing
(`o_status` or `o_order` NULL): the caller checks the member's card customer first, in a
transaction, and calls again.

A refusal is returned, not raised (`o_refusal`, a code, and `o_detail`, JSON with what the
Python side needs to word it with the same rules as before, domain/buying/orders.py): every
check comes before the first write, so nothing is written, and a caller that runs the function
inside its own transaction (an Idempotency-Key's POST, a token looked up first, the tests) can
go on using it. The statuses a member may order in are passed in from those rules, not
repeated here.

A decrease is taken from the newest increments first (rules.apply_change): an increment keeps
its units minus what the cut still needs once the newer ones gave all of theirs.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The buy's offer, the deadline and the lines, checked alike by both functions (v_* declared by each).
_CHECKS = """
    IF v_products IS NULL THEN
        o_refusal := 'group_buy_not_found';
        o_detail := json_build_object('group_buy', {buy})::text;
        RETURN;
    END IF;
    IF v_buy_status <> 'open' THEN
        o_refusal := 'group_buy_not_open';
        o_detail := json_build_object('group_buy', {buy}, 'status', v_buy_status)::text;
        RETURN;
    END IF;
    -- The clock read again after the locks: a write that waited must not slip in past the deadline.
    o_taken_at := greatest(p_now, clock_timestamp());
    IF o_taken_at >= v_closes_at THEN
        o_refusal := 'order_deadline_passed';
        o_detail := json_build_object('group_buy', {buy}, 'closes_at', v_closes_at, 'taken_at', o_taken_at)::text;
        RETURN;
    END IF;
    IF cardinality(p_products) <> (SELECT count(DISTINCT p) FROM unnest(p_products) AS p)
       OR NOT p_products <@ v_products
       OR EXISTS (SELECT FROM unnest(p_q, p_f) AS r(q, f) WHERE q < 0 OR f < 0)
       OR (SELECT coalesce(sum(q + f), 0) FROM unnest(p_q, p_f) AS r(q, f)) = 0 THEN
        o_refusal := 'lines_invalid';
        o_detail := json_build_object('offered', v_products)::text;
        RETURN;
    END IF;
    o_payment_mode := v_payment_mode;
    IF v_payment_mode = 'card' AND NOT p_card_ok THEN
        RETURN;  -- nothing written: the caller checks the card customer in a transaction, then calls again
    END IF;
"""

_BUY = """
    SELECT g.status, g.closes_at, g.payment_mode INTO v_buy_status, v_closes_at, v_payment_mode
    FROM group_buy g WHERE g.id = {buy} FOR SHARE;
    SELECT array_agg(i.product_id ORDER BY i.product_id), array_agg(i.price_version_id ORDER BY i.product_id)
    INTO v_products, o_versions
    FROM group_buy_item i WHERE i.group_buy_id = {buy};
    o_products := v_products;
"""

ORDER_CHANGE = f"""
CREATE FUNCTION coop_order_change(
    p_order bigint, p_only_member bigint, p_change_allowed text[], p_reopen_allowed text[],
    p_lock_class int, p_lock_mod bigint, p_shards int,
    p_products bigint[], p_q int[], p_f int[], p_now timestamptz, p_card_ok boolean,
    OUT o_group_buy bigint, OUT o_member bigint, OUT o_status text, OUT o_placed_seq bigint,
    OUT o_placed_by bigint, OUT o_created_at timestamptz, OUT o_taken_at timestamptz,
    OUT o_payment_mode text, OUT o_products bigint[], OUT o_versions bigint[],
    OUT o_refusal text, OUT o_detail text
) LANGUAGE plpgsql AS $$
DECLARE
    v_standing text;
    v_before text;
    v_buy_status text;
    v_closes_at timestamptz;
    v_payment_mode text;
    v_products bigint[];
    v_seq bigint;
BEGIN
    -- An order's buy and member never change: read them, then lock the member, then the buy.
    SELECT o.group_buy_id, o.member_id, o.status, m.status INTO o_group_buy, o_member, v_before, v_standing
    FROM buy_order o JOIN member m ON m.id = o.member_id
    WHERE o.id = p_order
    FOR SHARE OF m;
    IF NOT FOUND OR (p_only_member IS NOT NULL AND o_member <> p_only_member) THEN
        o_refusal := 'order_not_found';
        RETURN;
    END IF;
    IF NOT v_standing = ANY(CASE WHEN v_before = 'cancelled' THEN p_reopen_allowed ELSE p_change_allowed END) THEN
        o_refusal := 'member_not_in_good_standing';
        o_detail := json_build_object('member', o_member, 'standing', v_standing, 'order_status', v_before)::text;
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(p_lock_class, (o_group_buy % p_lock_mod)::int);
    {_BUY.format(buy="o_group_buy")}
    SELECT o.status, o.placed_seq, o.placed_by, o.created_at INTO v_before, o_placed_seq, o_placed_by, o_created_at
    FROM buy_order o WHERE o.id = p_order FOR UPDATE;
    {_CHECKS.format(buy="o_group_buy")}
    v_seq := nextval('order_change_seq');
    o_status := v_before;
    IF v_before = 'cancelled' THEN
        o_status := 'open';
        o_placed_seq := v_seq;  -- reopened: back of the queue
    END IF;
    WITH requested AS (
        SELECT * FROM unnest(p_products, p_q, p_f) AS r(product_id, quantity, flex)
    ), target AS (
        SELECT coalesce(l.product_id, r.product_id) AS product_id, l.id AS line_id,
               coalesce(l.quantity, 0) AS old_q, coalesce(l.flex_quantity, 0) AS old_f,
               coalesce(r.quantity, 0) AS new_q, coalesce(r.flex, 0) AS new_f
        FROM (SELECT * FROM order_line WHERE order_id = p_order) AS l
        FULL JOIN requested AS r ON r.product_id = l.product_id
    ), changed AS (
        SELECT * FROM target WHERE (old_q, old_f) <> (new_q, new_f)
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
    ), dropped_lines AS (
        DELETE FROM order_line l USING changed c WHERE l.id = c.line_id AND c.new_q + c.new_f = 0
    ), changed_lines AS (
        UPDATE order_line l SET quantity = c.new_q, flex_quantity = c.new_f
        FROM changed c WHERE l.id = c.line_id AND c.new_q + c.new_f > 0
    ), new_lines AS (
        INSERT INTO order_line (order_id, group_buy_id, product_id, quantity, flex_quantity)
        SELECT p_order, o_group_buy, c.product_id, c.new_q, c.new_f FROM changed c WHERE c.line_id IS NULL
        RETURNING id, quantity, flex_quantity
    ), new_increments AS (
        INSERT INTO order_increment (order_line_id, at_seq, quantity, flex_quantity, created_at)
        SELECT g.line_id, v_seq, g.quantity, g.flex, o_taken_at
        FROM (
            SELECT c.line_id, greatest(c.new_q - c.old_q, 0) AS quantity, greatest(c.new_f - c.old_f, 0) AS flex
            FROM changed c WHERE c.line_id IS NOT NULL AND (c.new_q > c.old_q OR c.new_f > c.old_f)
            UNION ALL
            SELECT id, quantity, flex_quantity FROM new_lines
        ) AS g
    ), totals AS (
        INSERT INTO group_buy_total (group_buy_id, product_id, shard, quantity, flex_quantity)
        SELECT o_group_buy, c.product_id, pg_backend_pid() % p_shards, c.new_q - c.old_q, c.new_f - c.old_f
        FROM changed c
        ORDER BY c.product_id
        ON CONFLICT (group_buy_id, product_id, shard) DO UPDATE
        SET quantity = group_buy_total.quantity + excluded.quantity,
            flex_quantity = group_buy_total.flex_quantity + excluded.flex_quantity
    )
    UPDATE buy_order SET status = o_status, placed_seq = o_placed_seq, updated_at = o_taken_at WHERE id = p_order;
END $$
"""

ORDER_PLACE = f"""
CREATE FUNCTION coop_order_place(
    p_buy bigint, p_member bigint, p_allowed text[], p_lock_class int, p_lock_mod bigint, p_shards int,
    p_products bigint[], p_q int[], p_f int[], p_now timestamptz, p_actor bigint, p_card_ok boolean,
    OUT o_order bigint, OUT o_placed_seq bigint, OUT o_taken_at timestamptz,
    OUT o_payment_mode text, OUT o_products bigint[], OUT o_versions bigint[],
    OUT o_refusal text, OUT o_detail text
) LANGUAGE plpgsql AS $$
DECLARE
    v_standing text;
    v_buy_status text;
    v_closes_at timestamptz;
    v_payment_mode text;
    v_products bigint[];
BEGIN
    SELECT m.status INTO v_standing FROM member m WHERE m.id = p_member FOR SHARE;
    IF NOT FOUND THEN
        o_refusal := 'member_not_found';
        RETURN;
    END IF;
    IF NOT v_standing = ANY(p_allowed) THEN
        o_refusal := 'member_not_in_good_standing';
        o_detail := json_build_object('member', p_member, 'standing', v_standing)::text;
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(p_lock_class, (p_buy % p_lock_mod)::int);
    {_BUY.format(buy="p_buy")}
    {_CHECKS.format(buy="p_buy")}
    INSERT INTO buy_order (group_buy_id, member_id, status, placed_seq, placed_by, created_at, updated_at)
    VALUES (p_buy, p_member, 'open', nextval('order_change_seq'), p_actor, o_taken_at, o_taken_at)
    ON CONFLICT ON CONSTRAINT uq_buy_order_group_buy_member DO NOTHING
    RETURNING id, placed_seq INTO o_order, o_placed_seq;
    IF o_order IS NULL THEN
        o_refusal := 'order_exists';
        o_detail := json_build_object(
            'order_id', (SELECT o.id FROM buy_order o WHERE o.group_buy_id = p_buy AND o.member_id = p_member)
        )::text;
        RETURN;
    END IF;
    WITH new_lines AS (
        INSERT INTO order_line (order_id, group_buy_id, product_id, quantity, flex_quantity)
        SELECT o_order, p_buy, r.product_id, r.quantity, r.flex
        FROM unnest(p_products, p_q, p_f) AS r(product_id, quantity, flex)
        WHERE r.quantity + r.flex > 0
        RETURNING id, quantity, flex_quantity
    ), new_increments AS (
        INSERT INTO order_increment (order_line_id, at_seq, quantity, flex_quantity, created_at)
        SELECT id, o_placed_seq, quantity, flex_quantity, o_taken_at FROM new_lines
    )
    INSERT INTO group_buy_total (group_buy_id, product_id, shard, quantity, flex_quantity)
    SELECT p_buy, r.product_id, pg_backend_pid() % p_shards, r.quantity, r.flex
    FROM unnest(p_products, p_q, p_f) AS r(product_id, quantity, flex)
    WHERE r.quantity + r.flex > 0
    ORDER BY r.product_id
    ON CONFLICT (group_buy_id, product_id, shard) DO UPDATE
    SET quantity = group_buy_total.quantity + excluded.quantity,
        flex_quantity = group_buy_total.flex_quantity + excluded.flex_quantity;
END $$
"""

_SIGNATURES = (
    "coop_order_change(bigint, bigint, text[], text[], int, bigint, int, bigint[], int[], int[], timestamptz, boolean)",
    "coop_order_place(bigint, bigint, text[], int, bigint, int, bigint[], int[], int[], timestamptz, bigint, boolean)",
)


def upgrade() -> None:
    op.execute(ORDER_CHANGE)
    op.execute(ORDER_PLACE)


def downgrade() -> None:
    for signature in _SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
