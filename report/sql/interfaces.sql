-- Report: interfaces (sluice report interfaces)
--
-- Per exporter interface: traffic in (flows with in_if = the interface) and out (out_if = the
-- interface) per bucket (5 minutes from `flows_5m`; 1 hour from `flows_1h` for ranges over 14 days).
-- For each interface and direction: the total, the largest bucket and the 95th percentile of the
-- buckets, where buckets without traffic count as zero (the array of bucket sums is padded with
-- zeros up to the number of buckets in the range before quantileExact runs). The report turns byte
-- counts into bits/s (value * 8 / bucket length; the average is total * 8 / (buckets * length)) and
-- the utilisation in % from the interface speed in the `interfaces` table (latest row per
-- exporter and ifIndex; unknown speed gives no utilisation).
--
-- The bucket sums are grouped by the stored columns (the exporter's 16 bytes, the interface, the
-- bucket: `ts` itself on the rollups), and the exporter is turned into hex only on the grouped
-- rows: on the bench day (17.3M flows_5m rows over 24 h, 18.16) each direction's GROUP BY takes
-- half the time it took with hex(exporter) and the bucket computed per row.
--
-- Placeholders {table} {ts} {bytes} as in top_apps.sql; {bucket}: the row's bucket start, `ts` on
-- the rollups, the 5-minute bucket of time_received on raw flows; {filter_in} / {filter_out}: the
-- exporter filter, the interface as in_if / out_if and the --filter expression.
-- Binds, in order (plus the values of the placeholders, inserted where they stand):
--   rows: buckets, buckets, from, to, from, to, exporter_hex, exporter_hex
--   names: ifindex, exporter_hex, exporter_hex
--   counters: from, to, exporter_hex, exporter_hex, ifindex (0: any), ifindex
--
-- counters: what the interfaces' own counters say (sFlow counter samples, `interface_counters`):
-- per exporter and ifIndex, the octets in and out over the summed sample intervals and the
-- latest speed. The report turns them into average bits/s and utilisation, beside the flow-based
-- figures, and lists interfaces that have counters but no flows too.
--
-- names: the names the `interfaces` table holds for one ifIndex (latest per exporter; of one
-- exporter when the request has one), which every report filtered by an interface shows in its
-- header (`interface=2 (ge-0/0/2)`).

-- @query rows
SELECT
    e,
    ifindex,
    in_total,
    out_total,
    in_max,
    out_max,
    in_p95,
    out_p95,
    name,
    speed
FROM
(
    SELECT
        hex(xp) AS e,
        ifindex,
        sum(in_b) AS in_total,
        sum(out_b) AS out_total,
        max(in_b) AS in_max,
        max(out_b) AS out_max,
        toUInt64(arrayReduce('quantileExact(0.95)', arrayConcat(groupArray(in_b),
            arrayMap(x -> toUInt64(0), range(toUInt64(greatest(toUInt64(?), count()) - count())))))) AS in_p95,
        toUInt64(arrayReduce('quantileExact(0.95)', arrayConcat(groupArray(out_b),
            arrayMap(x -> toUInt64(0), range(toUInt64(greatest(toUInt64(?), count()) - count())))))) AS out_p95
    FROM
    (
        SELECT xp, ifindex, bucket, sum(in_bytes) AS in_b, sum(out_bytes) AS out_b
        FROM
        (
            SELECT
                exporter AS xp,
                in_if AS ifindex,
                {bucket} AS bucket,
                toUInt64(sum({bytes})) AS in_bytes,
                toUInt64(0) AS out_bytes
            FROM {table}
            WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
              AND {filter_in}
              AND in_if != 0
            GROUP BY xp, ifindex, bucket
            UNION ALL
            SELECT
                exporter AS xp,
                out_if AS ifindex,
                {bucket} AS bucket,
                toUInt64(0) AS in_bytes,
                toUInt64(sum({bytes})) AS out_bytes
            FROM {table}
            WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
              AND {filter_out}
              AND out_if != 0
            GROUP BY xp, ifindex, bucket
        )
        GROUP BY xp, ifindex, bucket
    )
    GROUP BY xp, ifindex
) AS l
ANY LEFT JOIN
(
    SELECT
        hex(exporter) AS e,
        ifindex,
        toString(argMax(name, last_seen)) AS name,
        toUInt64(argMax(speed, last_seen)) AS speed
    FROM interfaces
    WHERE (? = '' OR hex(exporter) = ?)
    GROUP BY e, ifindex
) AS r USING (e, ifindex)
ORDER BY e, ifindex

-- @query names
SELECT DISTINCT n
FROM
(
    SELECT toString(argMax(name, last_seen)) AS n
    FROM interfaces
    WHERE ifindex = ? AND (? = '' OR hex(exporter) = ?)
    GROUP BY exporter
)
WHERE n != ''
ORDER BY n
LIMIT 4

-- @query counters
SELECT
    hex(exporter) AS e,
    ifindex,
    sum(in_octets) AS in_o,
    sum(out_octets) AS out_o,
    sum(interval_ms) AS ms,
    argMax(speed, time_received) AS sp
FROM interface_counters
WHERE time_received >= toDateTime(?) AND time_received < toDateTime(?)
  AND interval_ms > 0
  AND (? = '' OR hex(exporter) = ?)
  AND (? = 0 OR ifindex = ?)
GROUP BY e, ifindex
ORDER BY e, ifindex
