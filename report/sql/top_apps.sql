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
-- A range that `flows_5m` answers and that holds a whole hour reads those hours from `flows_1h`
-- and only the partial hours at its edges from `flows_5m` (the hour split: the same buckets and
-- the same sums, 12 times fewer rows for the whole hours).
--
-- Placeholders (chosen by the program from a fixed set, never from user input):
--   {table}   flows | flows_5m | flows_1h | the hour split: a subquery
--             (SELECT ... FROM flows_1h WHERE ts in the whole hours
--              UNION ALL SELECT ... FROM flows_5m WHERE ts in the edges)
--             with six bind marks of its own (hour_from, hour_to, from, hour_from, hour_to, to)
--   {ts}      time_received | ts
--   {bytes}   bytes_scaled | scaled_bytes
--   {packets} packets_scaled | scaled_packets
--   {flows}   1 | flow_count
--   {filter}  the row filter, only what the request has: `1` (none), `hex(exporter) = <mark>`,
--             `(in_if = <mark> OR out_if = <mark>)`, and the --filter expression in parentheses
--             (report/src/filter.rs: fixed fragments, column names and marks only), joined with
--             AND; {filter_in} and {filter_out} test `in_if` or `out_if` only, with the same
--             expression. A fixed text per combination, with bind marks whose values the program
--             inserts where the placeholder stands. A filter naming a field the rollups do not hold
--             makes the program read raw `flows`.
-- Binds, in order:
--   rows:   from, to, limit
--   totals: from, to
-- plus the values of {table} and {filter}, which the program inserts where they stand.

-- @query rows
SELECT
    protocol,
    app_port,
    sum({bytes}) AS sbytes,
    sum({packets}) AS spackets,
    sum({flows}) AS nflows
FROM {table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND {filter}
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
  AND {filter}
