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
-- One read of the table: per exporter and bucket, `sumMap` sums the bytes per interface in each
-- direction at once (key in_if * 2 for in, out_if * 2 + 1 for out; a second value array of row
-- counts keeps a key whose bytes sum to zero, which sumMap would drop), then ARRAY JOIN turns
-- the maps back into (exporter, interface, bucket) rows. The same sums as two GROUP BYs over
-- (exporter, interface, bucket), one per direction, with a hash table of (exporter, bucket) keys
-- only; the exporter is turned into hex on the grouped rows.
--
-- Placeholders {table} {ts} {bytes} {filter} as in top_apps.sql.
-- Binds, in order (plus the values of {filter}, inserted where it stands):
--   rows: buckets, buckets, bucket_secs, bucket_secs, from, to, has_if, ifindex,
--         exporter_hex, exporter_hex

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
        SELECT
            xp,
            toUInt32(intDiv(k, 2)) AS ifindex,
            bucket,
            toUInt64(sumIf(b, k % 2 = 0)) AS in_b,
            toUInt64(sumIf(b, k % 2 = 1)) AS out_b
        FROM
        (
            SELECT
                exporter AS xp,
                toUInt32(intDiv(toUInt32({ts}), ?) * ?) AS bucket,
                sumMap([toUInt64(in_if) * 2, toUInt64(out_if) * 2 + 1],
                    [toUInt64({bytes}), toUInt64({bytes})], [toUInt64(1), toUInt64(1)]) AS m
            FROM {table}
            WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
              AND {filter}
            GROUP BY xp, bucket
        )
        ARRAY JOIN m.1 AS k, m.2 AS b
        WHERE k >= 2 AND (? = 0 OR intDiv(k, 2) = ?)
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
