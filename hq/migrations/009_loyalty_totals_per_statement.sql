-- SPDX-License-Identifier: Apache-2.0
-- The running loyalty totals are kept once per statement instead of once per ledger row: a
-- chunk of sales (hq/post.c) adds its entries in one statement, and the totals take them in
-- one upsert, customers in key order so that two processes lock them in the same order.
DROP TRIGGER loyalty_ledger_totals ON loyalty_ledger;
DROP FUNCTION loyalty_totals_add();

CREATE FUNCTION loyalty_totals_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO loyalty_totals AS t (tenant, customer, balance, last_at)
        SELECT tenant, customer, sum(points), max(at) FROM added
         GROUP BY tenant, customer ORDER BY tenant, customer
        ON CONFLICT (tenant, customer) DO UPDATE
        SET balance = t.balance + excluded.balance,
            last_at = greatest(t.last_at, excluded.last_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER loyalty_ledger_totals AFTER INSERT ON loyalty_ledger
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION loyalty_totals_add();
