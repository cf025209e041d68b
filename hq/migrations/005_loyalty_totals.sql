-- SPDX-License-Identifier: Apache-2.0
-- Each customer's running sum of the loyalty ledger, kept by a trigger, so that issuing an
-- authoritative balance after a sale reads one row instead of the customer's whole history.
-- The ledger is append-only; as_of stays "the newest entry the balance includes".

CREATE TABLE loyalty_totals (
    tenant          text        NOT NULL,
    customer        text        NOT NULL,
    balance         bigint      NOT NULL,
    last_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant, customer)
);

INSERT INTO loyalty_totals (tenant, customer, balance, last_at)
    SELECT tenant, customer, sum(points), max(at) FROM loyalty_ledger GROUP BY tenant, customer;

CREATE FUNCTION loyalty_totals_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO loyalty_totals AS t (tenant, customer, balance, last_at)
        VALUES (NEW.tenant, NEW.customer, NEW.points, NEW.at)
        ON CONFLICT (tenant, customer) DO UPDATE
        SET balance = t.balance + excluded.balance,
            last_at = greatest(t.last_at, excluded.last_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER loyalty_ledger_totals AFTER INSERT ON loyalty_ledger
    FOR EACH ROW EXECUTE FUNCTION loyalty_totals_add();
