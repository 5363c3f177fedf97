-- Report: top-apps (sluice report top-apps)
--
-- Applications as IP protocol plus service port (the `app_port` column: the port below 1024 when
-- exactly one is, the destination port when both are, the lower port when both are ephemeral),
-- ranked by scaled bytes. The report names well-known services (443 -> https) and adds the share of
-- the total and an "other" row from the totals query.
--
-- Tables: the rollups `flows_5m` (ranges up to 2 days) or `flows_1h` (longer), which keep protocol
-- and app_port; raw `flows` for ranges under an hour. The rollups are SummingMergeTree, so every
-- query re-aggregates with GROUP BY. A rollup counts whole buckets whose start is in [from, to).
--
-- Placeholders (chosen by the program from a fixed set, never from user input):
--   {table}   flows | flows_5m | flows_1h
--   {ts}      time_received | ts
--   {bytes}   bytes_scaled | scaled_bytes
--   {packets} packets_scaled | scaled_packets
--   {flows}   1 | flow_count
-- Binds, in order:
--   rows:   from, to, exporter_hex, exporter_hex, has_if, ifindex, ifindex, limit
--   totals: from, to, exporter_hex, exporter_hex, has_if, ifindex, ifindex

-- @query rows
SELECT
    protocol,
    app_port,
    sum({bytes}) AS sbytes,
    sum({packets}) AS spackets,
    sum({flows}) AS nflows
FROM {table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND (? = '' OR hex(exporter) = ?)
  AND (? = 0 OR in_if = ? OR out_if = ?)
GROUP BY protocol, app_port
ORDER BY sbytes DESC, protocol, app_port
LIMIT ?

-- @query totals
SELECT
    sum({bytes}) AS sbytes,
    sum({packets}) AS spackets,
    sum({flows}) AS nflows
FROM {table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND (? = '' OR hex(exporter) = ?)
  AND (? = 0 OR in_if = ? OR out_if = ?)
