-- SPDX-License-Identifier: Apache-2.0
-- The live dashboard's event feed: every committed sale, alert, alert acknowledgement and
-- store change becomes one dash_feed row, numbered in commit order, and a NOTIFY wakes every
-- p4hq process streaming the feed, whichever process (or tool) wrote the data.
--
-- Why the ids are taken at COMMIT under a lock: a sequence value taken inside a transaction is
-- not commit order (T1 takes 5, T2 takes 6 and commits first; a reader that saw 6 and resumes
-- "after 6" would never get 5). The feed rows are written by deferred constraint triggers, which
-- run while the transaction commits, and each takes one transaction-level advisory lock before
-- drawing ids. The lock is released only after the commit is visible, so when a reader sees id
-- N, every id below N is either visible too or will never exist (rolled back): a client that
-- resumes after N cannot skip anything. The lock is held for the few inserts of the commit
-- itself, not while the ingest transaction does its work.

CREATE SEQUENCE dash_feed_id;

CREATE TABLE dash_feed (
    id              bigint      PRIMARY KEY,
    tenant          text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('sale', 'alert', 'store', 'alert_ack')),
    store           text,
    txid            bigint      NOT NULL DEFAULT txid_current(),
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    body            jsonb       NOT NULL
);
CREATE INDEX dash_feed_by_at ON dash_feed (at);
CREATE INDEX dash_feed_by_txid ON dash_feed (txid, store);

-- Rows older than the retention are deleted by the streaming process; a client that resumes
-- from below pruned_through is told to reload instead.
CREATE TABLE dash_feed_horizon (
    one             boolean     PRIMARY KEY DEFAULT true CHECK (one),
    pruned_through  bigint      NOT NULL DEFAULT 0
);
INSERT INTO dash_feed_horizon DEFAULT VALUES;

-- Alerts staff have dealt with (an admin's acknowledgement from the dashboard or the API).
CREATE TABLE alert_acks (
    tenant          text        NOT NULL,
    alert_id        uuid        NOT NULL,
    acked_at        timestamptz NOT NULL DEFAULT now(),
    acked_by        text        NOT NULL,
    PRIMARY KEY (tenant, alert_id),
    FOREIGN KEY (tenant, alert_id) REFERENCES alerts ON DELETE CASCADE
);

CREATE FUNCTION dash_ts(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Appends one feed row under the feed lock (see above) and notifies the tenant's channel
-- (PostgreSQL delivers it after COMMIT, once per transaction and payload).
CREATE FUNCTION dash_feed_add(p_tenant text, p_kind text, p_store text, p_body jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('p4hq dash_feed'));
    INSERT INTO dash_feed (id, tenant, kind, store, body)
    VALUES (nextval('dash_feed_id'), p_tenant, p_kind, p_store, p_body);
    PERFORM pg_notify('p4hq_dash', p_tenant);
END
$$;

CREATE FUNCTION dash_on_sale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dash_feed_add(NEW.tenant, 'sale', NEW.store, jsonb_build_object(
        'store', NEW.store, 'gw_seq', NEW.gw_seq, 'id', NEW.sale_id, 'reg', NEW.reg,
        'seq', NEW.seq, 'ts', dash_ts(NEW.ts), 'kind', NEW.kind, 'total', NEW.total_minor,
        'units', NEW.units, 'flags', to_jsonb(NEW.flags),
        'lines', coalesce((SELECT jsonb_agg(jsonb_build_object('sku', l.sku, 'qty', l.qty,
                                                               'price', l.price_minor)
                                            ORDER BY l.line_no)
                             FROM sale_lines l
                            WHERE l.tenant = NEW.tenant AND l.store = NEW.store
                              AND l.gw_seq = NEW.gw_seq), '[]'::jsonb)));
    RETURN NULL;
END
$$;

CREATE FUNCTION dash_on_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dash_feed_add(NEW.tenant, 'alert', NEW.store, jsonb_build_object(
        'id', NEW.alert_id, 'store', NEW.store, 'source', NEW.source, 'kind', NEW.kind,
        'severity', NEW.severity, 'ts', dash_ts(NEW.ts), 'message', NEW.message,
        'sku', NEW.sku, 'sales', to_jsonb(NEW.sales), 'details', NEW.details));
    RETURN NULL;
END
$$;

CREATE FUNCTION dash_on_alert_ack() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dash_feed_add(NEW.tenant, 'alert_ack', NULL, jsonb_build_object(
        'id', NEW.alert_id, 'acked_at', dash_ts(NEW.acked_at), 'acked_by', NEW.acked_by));
    RETURN NULL;
END
$$;

-- A store row changes several times in one ingest transaction (lock, status, watermark): one
-- feed row per store and transaction, with the row as it is at COMMIT.
CREATE FUNCTION dash_on_store() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s stores%ROWTYPE;
BEGIN
    IF EXISTS (SELECT 1 FROM dash_feed WHERE txid = txid_current() AND store = NEW.store
                                          AND kind = 'store' AND tenant = NEW.tenant) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO s FROM stores WHERE tenant = NEW.tenant AND store = NEW.store;
    PERFORM dash_feed_add(s.tenant, 'store', s.store, jsonb_build_object(
        'store', s.store, 'state', s.state, 'outbox', s.outbox, 'delivered', s.delivered,
        'hq_through', s.hq_through, 'max_gw_seq', s.max_gw_seq,
        'status_ts', dash_ts(s.status_ts), 'last_seen', dash_ts(s.last_seen)));
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER sales_dash AFTER INSERT ON sales
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dash_on_sale();
CREATE CONSTRAINT TRIGGER alerts_dash AFTER INSERT ON alerts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dash_on_alert();
CREATE CONSTRAINT TRIGGER alert_acks_dash AFTER INSERT ON alert_acks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dash_on_alert_ack();
CREATE CONSTRAINT TRIGGER stores_dash_insert AFTER INSERT ON stores
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dash_on_store();
-- last_seen alone moves with every status; the page ages it itself.
CREATE CONSTRAINT TRIGGER stores_dash_update AFTER UPDATE ON stores
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ((OLD.state, OLD.outbox, OLD.delivered, OLD.hq_through, OLD.max_gw_seq)
          IS DISTINCT FROM (NEW.state, NEW.outbox, NEW.delivered, NEW.hq_through,
                            NEW.max_gw_seq))
    EXECUTE FUNCTION dash_on_store();

-- A gateway's MQTT last will ("offline", retained) is encoded when the gateway connects, so its
-- ts is older than every status the gateway sent since, and ingest's newest-status-wins upsert
-- would drop it: a killed gateway would stay "online" at HQ forever. The broker publishes the
-- will when the gateway is gone, so an offline status counts from when HQ receives it. (A
-- BEFORE INSERT trigger changes the proposed row, which the upsert's EXCLUDED sees.)
CREATE FUNCTION stores_offline_received() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'offline' THEN
        NEW.status_ts := greatest(coalesce(NEW.status_ts, now()), now());
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER stores_offline_received BEFORE INSERT ON stores
    FOR EACH ROW EXECUTE FUNCTION stores_offline_received();
