-- Report: top-talkers (sluice report top-talkers --by src|dst|pair)
--
-- The source addresses, destination addresses or (source, destination) pairs that moved the most
-- traffic in a time range, ranked by bytes scaled by the sampling rate, with packets and flow
-- records. The report adds the share of the total and an "other" row (total minus the rows shown)
-- from the totals query.
--
-- Tables: `window_top` + `window_totals` (the aggregator's per-window top-N, exact totals) for long
-- ranges without exporter, interface or --filter; raw `flows` for short ranges or when any filter
-- is given (the windows hold no flow fields). Summing window top-N over several windows under-counts a key in the windows where it was
-- not in the top N (that traffic is in "other"); the raw path is exact.
-- Addresses come back as hex of the 16 stored bytes on both tiers (FixedString(16) or IPv6).
--
-- Placeholders: {filter} in the flows queries, as in top_apps.sql (exporter, interface and the
-- --filter expression; `1` when there is none), with bind marks whose values the program inserts
-- where it stands. The windows queries have none.
-- Binds, in order (one per bind mark in the query, plus the values of {filter}):
--   rows_flows:     by, by, from, to, limit
--   totals_flows:   from, to
--   window_secs:    from, to
--   rows_windows:   window_secs, dimension, from, to, limit
--   totals_windows: window_secs, from, to
-- `by` is 'src', 'dst' or 'pair'; from/to are Unix seconds (the range is [from, to));

-- @query rows_flows
SELECT
    if(? = 'dst', hex(dst_addr), hex(src_addr)) AS a,
    if(? = 'pair', hex(dst_addr), '') AS b,
    sum(bytes_scaled) AS sbytes,
    sum(packets_scaled) AS spackets,
    count() AS nflows
FROM flows
WHERE time_received >= toDateTime(?) AND time_received < toDateTime(?)
  AND {filter}
GROUP BY a, b
ORDER BY sbytes DESC, a, b
LIMIT ?

-- @query totals_flows
SELECT
    sum(bytes_scaled) AS sbytes,
    sum(packets_scaled) AS spackets,
    count() AS nflows
FROM flows
WHERE time_received >= toDateTime(?) AND time_received < toDateTime(?)
  AND {filter}

-- @query window_secs
-- The longest window length stored in the range (0 when there are no windows): longer windows
-- rank more traffic into their top N. Also the first and last window start, which the report
-- states so that a range the windows only partly cover is visible.
SELECT
    toUInt32(max(window_secs)) AS secs,
    toUInt32(min(window_start)) AS first_start,
    toUInt32(max(window_start)) AS last_start
FROM window_totals
WHERE window_start >= toDateTime(?) AND window_start < toDateTime(?)

-- @query rows_windows
SELECT
    hex(addr_a) AS a,
    if(dimension = 'conversation', hex(addr_b), '') AS b,
    sum(bytes) AS sbytes,
    sum(packets) AS spackets,
    sum(flows) AS nflows
FROM window_top
WHERE window_secs = ? AND dimension = ? AND is_other = 0
  AND window_start >= toDateTime(?) AND window_start < toDateTime(?)
GROUP BY a, b
ORDER BY sbytes DESC, a, b
LIMIT ?

-- @query totals_windows
SELECT
    sum(bytes) AS sbytes,
    sum(packets) AS spackets,
    sum(flows) AS nflows
FROM window_totals
WHERE window_secs = ?
  AND window_start >= toDateTime(?) AND window_start < toDateTime(?)
