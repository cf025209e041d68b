-- SPDX-License-Identifier: Apache-2.0
-- A sale's lines and tenders are written by the same statement as the sale itself (hq/post.c),
-- which inserts them only for the sales it inserted: their foreign keys to sales checked what
-- cannot happen, at three index probes per sale. Worse, on a young table the planner cached
-- that check as a scan of the tenant's whole sales index, so a first day's ingest slowed down
-- with every sale. The keys go; the primary keys stay.
ALTER TABLE sale_lines DROP CONSTRAINT sale_lines_tenant_store_gw_seq_fkey;
ALTER TABLE sale_tenders DROP CONSTRAINT sale_tenders_tenant_store_gw_seq_fkey;
