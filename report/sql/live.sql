-- Report: live (GET /api/v1/live of sluice web: the windows the collector stored, as the live feed
-- of sluice run sends them from memory)
--
-- Tables: `window_totals` (exact totals per window and exporter) and `window_top` (the top N per
-- dimension and window, and each dimension's "other" row), as the collector wrote them.
-- Addresses are read as hex() of the 16 stored bytes on both tiers. Only what the live feed shows
-- is read (no unscaled amounts, no packet or flow ranks).
-- Binds, in order:
--   newest:  none (the newest window and its length)
--   totals:  window_secs, after, upto
--   top:     window_secs, after, upto

-- @query newest
SELECT window_secs, toUInt32(max(window_start)) AS newest
FROM window_totals
GROUP BY window_secs
ORDER BY newest DESC, window_secs
LIMIT 1

-- @query totals
SELECT toUInt32(window_start) AS start, hex(exporter) AS exporter,
    sum(bytes) AS bytes, sum(packets) AS packets, sum(flows) AS flows
FROM window_totals
WHERE window_secs = ? AND window_start > toDateTime(?) AND window_start <= toDateTime(?)
GROUP BY start, exporter
ORDER BY start, exporter

-- @query top
SELECT toUInt32(window_start) AS start, toString(dimension) AS dimension,
    hex(addr_a) AS addr_a, hex(addr_b) AS addr_b, hex(exporter) AS exporter, num, proto,
    is_other, rank_bytes, bytes, packets, flows, toString(label) AS label
FROM window_top
WHERE window_secs = ? AND window_start > toDateTime(?) AND window_start <= toDateTime(?)
ORDER BY start, dimension, is_other, rank_bytes
