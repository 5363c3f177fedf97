-- Report: protocols (sluice report protocols)
--
-- The IP protocol mix: bytes, packets and flow records per IP protocol number, ranked by scaled
-- bytes. The report names common protocols (6 -> TCP, 17 -> UDP, 1 -> ICMP, 58 -> ICMPv6 ...) and
-- adds the share of the total.
--
-- Tables: `flows_5m` (up to 2 days) or `flows_1h` (longer); raw `flows` under an hour.
-- Placeholders {table} {ts} {bytes} {packets} {flows} as in top_apps.sql.
-- Binds, in order:
--   rows:   from, to, limit
--   totals: from, to
-- plus the values of {table} and {filter}, which the program inserts where they stand.

-- @query rows
SELECT
    protocol,
    sum({bytes}) AS sbytes,
    sum({packets}) AS spackets,
    sum({flows}) AS nflows
FROM {table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND {filter}
GROUP BY protocol
ORDER BY sbytes DESC, protocol
LIMIT ?

-- @query totals
SELECT
    sum({bytes}) AS sbytes,
    sum({packets}) AS spackets,
    sum({flows}) AS nflows
FROM {table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND {filter}
