-- SPDX-License-Identifier: Apache-2.0
-- HQ's first schema: every store's sales with their lines and tenders, keyed by (tenant, store,
-- gw_seq); per-store progress; inventory per (store, sku); a product master; a double-entry
-- general ledger whose entries must balance; a loyalty ledger; store status and alerts as
-- received; records HQ holds without posting them; dead letters.

-- One row per store HQ has heard of: its committed watermark and its last status.
CREATE TABLE stores (
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    -- every record 1..hq_through of the store is held (in sales or record_exceptions)
    hq_through      bigint      NOT NULL DEFAULT 0 CHECK (hq_through >= 0),
    max_gw_seq      bigint      NOT NULL DEFAULT 0 CHECK (max_gw_seq >= 0),
    -- the store's own last status (up/status), as received
    state           text,
    outbox          bigint,
    delivered       bigint,
    status_ts       timestamptz,
    last_seen       timestamptz,
    PRIMARY KEY (tenant, store)
);

CREATE TABLE sales (
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    gw_seq          bigint      NOT NULL CHECK (gw_seq >= 1),
    sale_id         uuid        NOT NULL,
    reg             text        NOT NULL,
    seq             bigint      NOT NULL,
    ts              timestamptz NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('sale', 'return', 'void')),
    ref             uuid,
    total_minor     bigint      NOT NULL,
    customer        text,
    loyalty_earn    bigint      NOT NULL DEFAULT 0 CHECK (loyalty_earn >= 0),
    loyalty_redeem  bigint      NOT NULL DEFAULT 0 CHECK (loyalty_redeem >= 0),
    hold            text,
    flags           text[]      NOT NULL DEFAULT '{}',
    units           bigint      NOT NULL,
    committed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, store, gw_seq),
    UNIQUE (tenant, sale_id)
);
CREATE INDEX sales_by_ts ON sales (tenant, ts);

CREATE TABLE sale_lines (
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    gw_seq          bigint      NOT NULL,
    line_no         integer     NOT NULL,
    sku             text        NOT NULL,
    qty             bigint      NOT NULL CHECK (qty <> 0),
    price_minor     bigint      NOT NULL CHECK (price_minor >= 0),
    ver             bigint      NOT NULL,
    PRIMARY KEY (tenant, store, gw_seq, line_no),
    FOREIGN KEY (tenant, store, gw_seq) REFERENCES sales ON DELETE CASCADE
);

CREATE TABLE sale_tenders (
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    gw_seq          bigint      NOT NULL,
    tender_no       integer     NOT NULL,
    type            text        NOT NULL,
    amount_minor    bigint      NOT NULL,
    PRIMARY KEY (tenant, store, gw_seq, tender_no),
    FOREIGN KEY (tenant, store, gw_seq) REFERENCES sales ON DELETE CASCADE
);

-- A record HQ holds without posting it: one that breaks the contract ('invalid') or whose sale
-- id HQ already holds under another (store, gw_seq) ('conflict'). Kept for staff; it counts
-- for the watermark because sending it again cannot change it.
CREATE TABLE record_exceptions (
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    gw_seq          bigint      NOT NULL CHECK (gw_seq >= 1),
    kind            text        NOT NULL CHECK (kind IN ('invalid', 'conflict')),
    sale_id         text,
    reason          text        NOT NULL,
    record          text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, store, gw_seq)
);

-- Uplink messages that could not be read at all, byte for byte.
CREATE TABLE dead_letters (
    id              bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    topic           text        NOT NULL,
    payload         bytea       NOT NULL,
    reason          text        NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    tenant          text        NOT NULL,
    sku             text        NOT NULL,
    name            text        NOT NULL,
    -- tax rate in basis points (7.5 % = 750): prices are tax-inclusive
    tax_rate_bp     integer     NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    unit_cost_minor bigint      CHECK (unit_cost_minor >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, sku)
);

-- The contract's stock rule per (store, sku): on_hand = the latest count (count_on_hand at
-- count_at; 0 at the epoch when none) + every movement after count_at.
CREATE TABLE stock (
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    sku             text        NOT NULL,
    on_hand         bigint      NOT NULL DEFAULT 0,
    count_at        timestamptz NOT NULL DEFAULT 'epoch',
    count_on_hand   bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, store, sku)
);

CREATE TABLE stock_movements (
    id              bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    sku             text        NOT NULL,
    type            text        NOT NULL
                    CHECK (type IN ('sale', 'return', 'receive', 'transfer', 'adjust', 'count')),
    delta           bigint      NOT NULL,
    occurred_at     timestamptz NOT NULL,
    gw_seq          bigint,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_by_sku ON stock_movements (tenant, store, sku, occurred_at);

-- The chart of accounts, written from p4hq.ini's [accounts] at start.
CREATE TABLE accounts (
    tenant          text        NOT NULL,
    code            text        NOT NULL,
    name            text        NOT NULL,
    type            text        NOT NULL
                    CHECK (type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
    PRIMARY KEY (tenant, code)
);

CREATE TABLE journal_entries (
    id              bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    gw_seq          bigint,
    sale_id         uuid,
    kind            text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    posted_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, store, gw_seq)
);

CREATE TABLE journal_lines (
    entry_id        bigint      NOT NULL REFERENCES journal_entries ON DELETE CASCADE,
    line_no         integer     NOT NULL,
    tenant          text        NOT NULL,
    account         text        NOT NULL,
    debit_minor     bigint      NOT NULL DEFAULT 0 CHECK (debit_minor >= 0),
    credit_minor    bigint      NOT NULL DEFAULT 0 CHECK (credit_minor >= 0),
    CHECK ((debit_minor = 0) <> (credit_minor = 0)),
    PRIMARY KEY (entry_id, line_no),
    FOREIGN KEY (tenant, account) REFERENCES accounts
);
CREATE INDEX journal_lines_by_account ON journal_lines (tenant, account);

-- Every entry balances, whoever writes it: checked at COMMIT for each entry touched.
CREATE FUNCTION journal_entry_must_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.entry_id ELSE NEW.entry_id END;
    d bigint;
    c bigint;
BEGIN
    SELECT coalesce(sum(debit_minor), 0), coalesce(sum(credit_minor), 0) INTO d, c
      FROM journal_lines WHERE entry_id = e;
    IF d <> c THEN
        RAISE EXCEPTION 'journal entry % does not balance: debit % credit %', e, d, c
              USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER journal_lines_balance
    AFTER INSERT OR UPDATE OR DELETE ON journal_lines
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION journal_entry_must_balance();

CREATE VIEW trial_balance AS
    SELECT l.tenant, l.account, a.name, a.type,
           sum(l.debit_minor)::bigint AS debit, sum(l.credit_minor)::bigint AS credit,
           (sum(l.debit_minor) - sum(l.credit_minor))::bigint AS balance
      FROM journal_lines l JOIN accounts a ON a.tenant = l.tenant AND a.code = l.account
     GROUP BY l.tenant, l.account, a.name, a.type;

-- Points per customer: earned and redeemed by sales, later HQ's own entries. The entry id is
-- the idempotency key.
CREATE TABLE loyalty_ledger (
    id              bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    customer        text        NOT NULL,
    entry           text        NOT NULL,
    points          bigint      NOT NULL CHECK (points <> 0),
    reason          text,
    at              timestamptz NOT NULL,
    store           text,
    gw_seq          bigint,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, entry)
);
CREATE INDEX loyalty_ledger_by_customer ON loyalty_ledger (tenant, customer, at);

CREATE VIEW loyalty_balances AS
    SELECT tenant, customer, sum(points)::bigint AS balance, max(at) AS last_at
      FROM loyalty_ledger GROUP BY tenant, customer;

-- Alerts raised by stores (up/alert) and by HQ itself, one row per alert id.
CREATE TABLE alerts (
    tenant          text        NOT NULL,
    alert_id        uuid        NOT NULL,
    store           text        NOT NULL,
    source          text        NOT NULL CHECK (source IN ('store', 'hq')),
    kind            text        NOT NULL,
    severity        text        NOT NULL,
    ts              timestamptz NOT NULL,
    message         text        NOT NULL,
    sku             text,
    sales           text[]      NOT NULL DEFAULT '{}',
    details         jsonb,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, alert_id)
);
CREATE INDEX alerts_by_ts ON alerts (tenant, ts DESC);
