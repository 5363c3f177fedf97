-- Report: countries, networks and providers (sluice report countries|networks --by src|dst,
-- sluice report providers --by in|out)
--
-- Traffic by one enrichment key, as enrichment found it ({key}, one of six stored columns the
-- report picks from a fixed list, never from the caller's text):
--   countries --by src|dst   src_country / dst_country (ISO 3166 alpha-2 from the GeoIP country
--                            database; empty when unknown, shown as "(unknown)")
--   networks --by src|dst    src_net_name / dst_net_name (the `name` of the most specific
--                            `[[enrich.networks]]` prefix holding the address, inherited from
--                            enclosing prefixes; empty outside every named network, shown as
--                            "(none)"; two prefixes with the same name count as one network)
--   providers --by in|out    in_if_provider / out_if_provider (`[[enrich.interfaces]]` or a
--                            matching `[[enrich.interface_rules]]` rule; empty for an interface
--                            without a provider, shown as "(none)")
-- Ranked by scaled bytes, with packets, flow records, the share of the total and an "other" row
-- from the totals query.
--
-- Tables: the enrichment rollups `flows_enrich_5m` (ranges up to 2 days) or `flows_enrich_1h`
-- (longer), which keep exporter, countries, network names and interface providers; raw `flows`
-- for ranges under an hour, and for a request filtered by an interface or by a --filter field
-- they do not hold (the enrichment rollups have no interfaces, ports, ASes or addresses). A range
-- that `flows_enrich_5m` answers and that holds a whole hour reads those hours from
-- `flows_enrich_1h` and only the partial hours at its edges from `flows_enrich_5m` (the hour
-- split, as in top_apps.sql). A rollup counts whole buckets whose start is in [from, to). The
-- rollups are filled by views from the moment migration 13 created
-- them; older traffic is only in raw `flows`.
--
-- The key is grouped as stored and turned into a String only on the grouped rows (LowCardinality
-- on modern servers, String on 18.16).
-- Placeholders: {key} (above); {enrich_table} (flows | flows_enrich_5m | flows_enrich_1h | the
-- hour split over them); {ts} {bytes} {packets} {flows} {filter} as in top_apps.sql.
-- Binds, in order (plus the values of {enrich_table} and {filter}, inserted where they stand):
--   rows:   from, to, limit
--   totals: from, to

-- @query rows
SELECT
    toString({key}) AS k,
    sum({bytes}) AS sbytes,
    sum({packets}) AS spackets,
    sum({flows}) AS nflows
FROM {enrich_table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND {filter}
GROUP BY {key}
ORDER BY sbytes DESC, k
LIMIT ?

-- @query totals
SELECT
    sum({bytes}) AS sbytes,
    sum({packets}) AS spackets,
    sum({flows}) AS nflows
FROM {enrich_table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND {filter}
