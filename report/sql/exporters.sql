-- Report: exporters (sluice report exporters)
--
-- Exporter health. Two queries, merged by address in the program (an exporter may be in either):
--   inventory: the latest row per exporter of the `exporters` table, which `sluice run` rewrites at
--              every metrics interval (ReplacingMergeTree, so the latest is picked with argMax
--              rather than trusting merges; ties within one second go to the row with more datagrams, the
--              later write of the same collector): name, first and last datagram, protocol versions,
--              sampling rate and its source, data and options templates held, and the collector's
--              counters since it started (datagrams, records, sequence losses, decode errors by
--              kind, padding bytes) with the clock skew of the last datagram; for sFlow agents, the
--              UDP source of the last datagram (the address is the agent's) and the samples lost
--              in transit and dropped by the agent.
--   activity:  from raw `flows` in the range (the raw fields are needed): flow records, last flow
--              received, the latest sampling rate and where it came from (`sampling_source`), and
--              the clock skew estimate: the median of (time received - flow end) in milliseconds
--              over flows with a flow end time. A large positive value means the exporter's clock is
--              behind or it exports late; a negative one means its clock is ahead.
--   accuracy:  the sFlow sampling accuracy check, from `interface_counters` in the range: octets
--              estimated from each interface's flow samples (frame length x sampling rate) over
--              the intervals between its counter samples, against its in_octets counter deltas
--              over the same intervals (intervals with at least one flow sample).
-- The report computes flows/s as flow records / range seconds, and the accuracy as estimate /
-- counters in percent (100 % is exact; with ingress sampling).
-- Binds, in order:
--   inventory: exporter_hex, exporter_hex
--   activity:  from, to, exporter_hex, exporter_hex
--   accuracy:  from, to, exporter_hex, exporter_hex

-- @query inventory
SELECT
    hex(address) AS a,
    toString(argMax(name, (last_seen, datagrams))) AS n,
    toUInt32(max(last_seen)) AS seen,
    argMax(versions, (last_seen, datagrams)) AS v,
    argMax(sampling_rate, (last_seen, datagrams)) AS rate,
    argMax(templates, (last_seen, datagrams)) AS tpl,
    argMax(options_templates, (last_seen, datagrams)) AS otpl,
    toUInt32(minIf(first_seen, first_seen > toDateTime(0))) AS first,
    toString(argMax(sampling_source, (last_seen, datagrams))) AS rate_source,
    argMax(datagrams, (last_seen, datagrams)) AS dgrams,
    argMax(records, (last_seen, datagrams)) AS recs,
    argMax(sequence_lost, (last_seen, datagrams)) AS lost,
    argMax(decode_errors, (last_seen, datagrams)) AS errors,
    arrayMap(k -> toString(k), argMax(error_kinds, (last_seen, datagrams))) AS error_kinds,
    argMax(error_counts, (last_seen, datagrams)) AS error_counts,
    argMax(padding_bytes, (last_seen, datagrams)) AS padding,
    argMax(clock_skew_ms, (last_seen, datagrams)) AS collector_skew_ms,
    toUInt32(argMax(collector_started, (last_seen, datagrams))) AS since,
    hex(argMax(udp_source, (last_seen, datagrams))) AS udp,
    argMax(samples_lost, (last_seen, datagrams)) AS samples_lost,
    argMax(agent_drops, (last_seen, datagrams)) AS agent_drops
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

-- @query accuracy
SELECT
    hex(exporter) AS a,
    sum(sampled_octets) AS sampled,
    sum(in_octets) AS counted
FROM interface_counters
WHERE time_received >= toDateTime(?) AND time_received < toDateTime(?)
  AND flow_samples > 0
  AND (? = '' OR hex(exporter) = ?)
GROUP BY a
ORDER BY a
