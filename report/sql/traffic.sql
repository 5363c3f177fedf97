-- Report: traffic (sluice report traffic [--step 1m|5m|1h] [--by protocol|exporter])
--
-- A time series: scaled bytes, packets and flow records per time step and per series (IP protocol
-- number, or exporter address as hex). The report turns them into bits/s and packets/s
-- (value * 8 / step, value / step), fills empty steps with zeros and stacks the series in its chart.
--
-- Steps: 1m reads raw `flows`; 5m reads `flows_5m`; 1h reads `flows_1h`. The step is chosen from the
-- range (up to 2 h: 1m, up to 2 days: 5m, longer: 1h) unless given. The bucket is
-- intDiv(unix seconds, step) * step, which works on 18.16 (no toStartOfInterval there) and later.
-- Placeholders {table} {ts} {bytes} {packets} {flows} as in top_apps.sql.
-- Binds, in order:
--   series: step, step, by, from, to, exporter_hex, exporter_hex, has_if, ifindex, ifindex

-- @query series
SELECT
    toUInt32(intDiv(toUInt32({ts}), ?) * ?) AS bucket,
    if(? = 'exporter', hex(exporter), toString(protocol)) AS series,
    sum({bytes}) AS sbytes,
    sum({packets}) AS spackets,
    sum({flows}) AS nflows
FROM {table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND (? = '' OR hex(exporter) = ?)
  AND (? = 0 OR in_if = ? OR out_if = ?)
GROUP BY bucket, series
ORDER BY bucket, series
