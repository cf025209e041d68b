-- SPDX-License-Identifier: Apache-2.0
-- HQ as the authority: master data with versions drawn from one counter per kind and tenant,
-- where each customer shops, loyalty balances, and the durable downlink outbox.

-- One increasing counter per (tenant, kind) (contract 6.4 "Versions"). Taken with UPDATE in
-- the writing transaction, so versions are handed out in commit order: a store's highest ver
-- of a kind is a true resync watermark.
CREATE TABLE versions (
    tenant          text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('price', 'promo', 'customer', 'loyalty')),
    last            bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, kind)
);

-- Every price item HQ issued; store NULL = every store.
CREATE TABLE prices (
    tenant          text        NOT NULL,
    ver             bigint      NOT NULL,
    sku             text        NOT NULL,
    store           text,
    price_minor     bigint      NOT NULL CHECK (price_minor >= 0),
    effective_from  timestamptz,
    effective_until timestamptz,
    item            text        NOT NULL,   -- the down/price item as sent
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, ver),
    CHECK (effective_until IS NULL OR effective_from IS NULL OR effective_until > effective_from)
);
CREATE INDEX prices_by_sku ON prices (tenant, sku, ver);

-- Every promo version (the item as sent); the highest ver per id is the promo.
CREATE TABLE promos (
    tenant          text        NOT NULL,
    id              text        NOT NULL,
    ver             bigint      NOT NULL,
    active          boolean     NOT NULL,
    item            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id, ver)
);

CREATE TABLE customers (
    tenant          text        NOT NULL,
    id              text        NOT NULL,
    ver             bigint      NOT NULL,
    name            text        NOT NULL,
    tier            text        NOT NULL,
    origin_store    text,
    item            text        NOT NULL,   -- the down/customer item as sent
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id)
);

-- Where each customer shops: the stores that get the customer's new balance pushed.
CREATE TABLE customer_stores (
    tenant          text        NOT NULL,
    customer        text        NOT NULL,
    store           text        NOT NULL,
    last_sale_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant, customer, store)
);

-- The authoritative balance last issued per customer (contract 6.4.4).
CREATE TABLE loyalty_accounts (
    tenant          text        NOT NULL,
    customer        text        NOT NULL,
    balance         bigint      NOT NULL,
    ver             bigint      NOT NULL,
    as_of           timestamptz NOT NULL,
    item            text        NOT NULL,   -- the down/loyalty balance item as sent
    PRIMARY KEY (tenant, customer)
);

-- HQ's own stock movements carry their object id (the gateway's idempotency key).
-- (a count row keeps the counted quantity in delta).
ALTER TABLE stock_movements ADD COLUMN movement_id text;
ALTER TABLE stock_movements ADD COLUMN item text;   -- HQ movements: the down/stock item as sent
CREATE UNIQUE INDEX stock_movements_by_id ON stock_movements (tenant, store, movement_id)
    WHERE movement_id IS NOT NULL;

-- The downlink outbox: written in the transaction of the change that causes it, published in
-- id order by any p4hq process, kept until the broker acknowledged it.
CREATE TABLE downlink (
    id              bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    store           text        NOT NULL,   -- a store id, or '_all'
    kind            text        NOT NULL,
    payload         text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);
CREATE INDEX downlink_pending ON downlink (id) WHERE published_at IS NULL;

-- Resync requests (up/resync) waiting for the publisher to answer them.
CREATE TABLE resync_requests (
    id              bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    req_id          text        NOT NULL,
    since_price     bigint      NOT NULL,
    since_promo     bigint      NOT NULL,
    since_customer  bigint      NOT NULL,
    since_loyalty   bigint      NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    answered_at     timestamptz
);
CREATE INDEX resync_pending ON resync_requests (id) WHERE answered_at IS NULL;
