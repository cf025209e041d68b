-- SPDX-License-Identifier: Apache-2.0
-- A replaced gateway numbers again the sales its registers resend, some of which HQ already
-- holds under the lost gateway's gw_seq. Such a record (same store, same sale id, same
-- content) is held as 'resent': it counts for the watermark and posts nothing. The content is
-- compared through the digest of the sale's canonical encoding (contract 5.1, without gw_seq
-- and flags, which depend on the gateway that numbered it).

ALTER TABLE record_exceptions DROP CONSTRAINT record_exceptions_kind_check;
-- A number a replaced gateway will never send (its predecessor's record that never reached HQ,
-- its sale resent and numbered anew) is held as 'skipped' once the new gateway says so.
ALTER TABLE record_exceptions ADD CONSTRAINT record_exceptions_kind_check
    CHECK (kind IN ('invalid', 'conflict', 'resent', 'skipped'));
ALTER TABLE sales ADD COLUMN digest text;   -- md5 of the canonical sale; NULL before 007

-- A resync from an empty replica (contract 6.6, 1.2 "rebuild") is answered with HQ's stock on
-- hand per sku instead of the latest count and HQ's movements after it.
ALTER TABLE resync_requests ADD COLUMN rebuild boolean NOT NULL DEFAULT false;
