-- Report: exporters (sluice report exporters)
--
-- Exporter health. Two queries, merged by address in the program (an exporter may be in either):
--   inventory: the latest row per exporter of the `exporters` table (ReplacingMergeTree, so the
--              latest is picked with argMax rather than trusting merges): name, last datagram,
--              protocol versions, sampling rate, data and options templates held.
--   activity:  from raw `flows` in the range (the raw fields are needed): flow records, last flow
--              received, the latest sampling rate and where it came from (`sampling_source`), and
--              the clock skew estimate: the median of (time received - flow end) in milliseconds
--              over flows with a flow end time. A large positive value means the exporter's clock is
--              behind or it exports late; a negative one means its clock is ahead.
-- The report computes flows/s as flow records / range seconds.
-- Decode errors are not stored in ClickHouse (they are collector metrics), so they are not here.
-- Binds, in order:
--   inventory: exporter_hex, exporter_hex
--   activity:  from, to, exporter_hex, exporter_hex

-- @query inventory
SELECT
    hex(address) AS a,
    toString(argMax(name, last_seen)) AS n,
    toUInt32(max(last_seen)) AS seen,
    argMax(versions, last_seen) AS v,
    argMax(sampling_rate, last_seen) AS rate,
    argMax(templates, last_seen) AS tpl,
    argMax(options_templates, last_seen) AS otpl
FROM exporters
WHERE (? = '' OR hex(address) = ?)
GROUP BY a
ORDER BY a

-- @query activity
SELECT
    hex(exporter) AS a,
    count() AS nflows,
    toUInt32(max(time_received)) AS last_flow,
    argMax(sampling_rate, time_received) AS rate,
    toString(argMax(sampling_source, time_received)) AS rate_source,
    toInt64(quantileExactIf(0.5)(toInt64(toUInt32(time_received)) * 1000 - flow_end_ms, flow_end_ms > 0)) AS skew_ms,
    countIf(flow_end_ms > 0) AS with_end
FROM flows
WHERE time_received >= toDateTime(?) AND time_received < toDateTime(?)
  AND (? = '' OR hex(exporter) = ?)
GROUP BY a
ORDER BY a
