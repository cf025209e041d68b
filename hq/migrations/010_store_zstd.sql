-- SPDX-License-Identifier: Apache-2.0
-- The zstd dictionary a store's gateway compresses its sales with (contract 1.3, 6.10): proof
-- that it reads compressed downlink of that dictionary, so HQ compresses what it sends to that
-- store's own topics. NULL: plain JSON (a gateway that never compressed, or one of 1.2).
ALTER TABLE stores ADD COLUMN zstd_dict integer;
