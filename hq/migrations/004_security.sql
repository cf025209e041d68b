-- SPDX-License-Identifier: Apache-2.0
-- Cloud-side security: the registry of stores HQ accepts uplink from, and the append-only audit
-- log of every change made at HQ (who, what, when, from where).

-- Stores registered with `p4hq store add`. With [ingest] require_registered_stores = true,
-- messages of a store missing here are dead-lettered and raised as an alert, never posted.
CREATE TABLE store_registry (
    tenant          text        NOT NULL,
    store           text        NOT NULL,
    added_at        timestamptz NOT NULL DEFAULT now(),
    added_by        text        NOT NULL,
    note            text,
    PRIMARY KEY (tenant, store)
);

-- One row per change made at HQ, written in the change's own transaction. Append-only: the
-- triggers below refuse UPDATE, DELETE and TRUNCATE from any role but a superuser who drops
-- them, and the runtime role is granted INSERT and SELECT only (below and in p4hq db init).
CREATE TABLE audit_log (
    id              bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    via             text        NOT NULL CHECK (via IN ('cli', 'api')),
    -- the CLI's operating-system user, or the API's role ("admin") with how it was presented
    actor           text        NOT NULL,
    -- the API token's fingerprint (never the token), NULL for the CLI
    token_fp        text,
    -- the CLI's host name, or the HTTP peer address
    origin          text        NOT NULL,
    action          text        NOT NULL,
    -- the change as JSON: the request or arguments and what it created
    detail          jsonb       NOT NULL
);
CREATE INDEX audit_log_by_at ON audit_log (tenant, at DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Default privileges (p4hq db init) granted the runtime role UPDATE and DELETE on this new
-- table: take them back from every role but the owner.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT DISTINCT grantee FROM information_schema.role_table_grants
             WHERE table_name = 'audit_log' AND grantee NOT IN (current_user, 'PUBLIC')
               AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM %I', r.grantee);
    END LOOP;
END
$$;
