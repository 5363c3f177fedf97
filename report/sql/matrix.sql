-- Report: matrix (sluice report matrix [--prefix 24 [--prefix6 64]])
--
-- Who talks to whom, aggregated: source AS x destination AS (default), or source subnet x
-- destination subnet when a prefix length is given. Ranked by scaled bytes, with packets, flow
-- records, the share of the total and an "other" row.
--
-- AS pairs read the rollups `flows_5m` / `flows_1h` (raw `flows` under an hour); subnets need the
-- addresses, so they read raw `flows`. Subnets: the 16 stored address bytes are split into two
-- UInt64 halves (big-endian) and masked; IPv4-mapped addresses (::ffff:a.b.c.d) get the IPv4 mask
-- (prefix + 96 bits), others the IPv6 mask. The masks are computed by the program and bound; the
-- report turns the halves back into a network address. (IPv6CIDRToRange is missing on 18.16.)
--
-- Placeholders {table} {ts} {bytes} {packets} {flows} as in top_apps.sql (as_rows, as_totals).
-- Binds, in order (plus the values of {table} and {filter}, inserted where they stand):
--   as_rows:      from, to, limit
--   as_totals:    from, to
--
-- as_rows names both ASes from `as_names` (AS organisation names from the GeoIP ASN database,
-- written by `sluice run`; ReplacingMergeTree, so the latest name per AS is picked with argMax
-- rather than trusting merges): two ANY LEFT JOINs, one per side and nested (18.16 takes one JOIN
-- per SELECT), on the top rows only, after the LIMIT; an AS without a name gets ''. The right
-- sides read the whole of `as_names` (one row per AS the GeoIP database named: tens of thousands
-- at most).
--
-- as_rows groups by one UInt64 key, src_as * 2^32 + dst_as (both UInt32, so the key is exact and
-- orders like (src_as, dst_as)), and splits it back on the top rows: on 18.16 a GROUP BY of the two
-- UInt32 columns took 1.0-1.7 s over the bench's 7 days of flows_1h (10.1M rows, 37,090 pairs),
-- the one key 0.5-0.9 s, in the same runs.
--
-- A range that the program would read from `flows_5m` reads its whole hours from `flows_1h` and
-- only the partial hours at its edges from `flows_5m` ({table} is then the hour split, see
-- top_apps.sql): the same buckets, the same sums, 12 times fewer rows. Measured on a busy day
-- (benches/reports.sh, 17.3M flows_5m rows, 18.16): 24 h AS matrix rows 3.0 s -> 0.45 s.
--   subnet_rows:  v4_hi, v6_hi, v4_lo, v6_lo (source), v4_hi, v6_hi, v4_lo, v6_lo (destination),
--                 from, to, limit
--   subnet_totals: from, to
-- (plus the values of {filter}, inserted where it stands; the subnet queries read raw `flows`).

-- @query as_rows
SELECT sa, da, sbytes, spackets, nflows, sa_name, da_name
FROM
(
    SELECT sa, da, sbytes, spackets, nflows, sa_name
    FROM
    (
        SELECT
            toUInt32(bitShiftRight(k, 32)) AS sa,
            toUInt32(bitAnd(k, 4294967295)) AS da,
            sbytes,
            spackets,
            nflows
        FROM
        (
            SELECT
                bitOr(bitShiftLeft(toUInt64(src_as), 32), toUInt64(dst_as)) AS k,
                sum({bytes}) AS sbytes,
                sum({packets}) AS spackets,
                sum({flows}) AS nflows
            FROM {table}
            WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
              AND {filter}
            GROUP BY k
            ORDER BY sbytes DESC, k
            LIMIT ?
        )
    ) AS pairs
    ANY LEFT JOIN
    (
        SELECT asn AS sa, toString(argMax(name, last_seen)) AS sa_name
        FROM as_names
        GROUP BY asn
    ) AS src_names USING (sa)
) AS named
ANY LEFT JOIN
(
    SELECT asn AS da, toString(argMax(name, last_seen)) AS da_name
    FROM as_names
    GROUP BY asn
) AS dst_names USING (da)
ORDER BY sbytes DESC, sa, da

-- @query as_totals
SELECT
    sum({bytes}) AS sbytes,
    sum({packets}) AS spackets,
    sum({flows}) AS nflows
FROM {table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND {filter}

-- @query subnet_rows
SELECT
    bitAnd(s_hi, if(s_hi = 0 AND bitShiftRight(s_lo, 32) = 65535, toUInt64(?), toUInt64(?))) AS sh,
    bitAnd(s_lo, if(s_hi = 0 AND bitShiftRight(s_lo, 32) = 65535, toUInt64(?), toUInt64(?))) AS sl,
    bitAnd(d_hi, if(d_hi = 0 AND bitShiftRight(d_lo, 32) = 65535, toUInt64(?), toUInt64(?))) AS dh,
    bitAnd(d_lo, if(d_hi = 0 AND bitShiftRight(d_lo, 32) = 65535, toUInt64(?), toUInt64(?))) AS dl,
    sum(sb) AS sbytes,
    sum(sp) AS spackets,
    count() AS nflows
FROM
(
    SELECT
        reinterpretAsUInt64(reverse(substring(unhex(hex(src_addr)), 1, 8))) AS s_hi,
        reinterpretAsUInt64(reverse(substring(unhex(hex(src_addr)), 9, 8))) AS s_lo,
        reinterpretAsUInt64(reverse(substring(unhex(hex(dst_addr)), 1, 8))) AS d_hi,
        reinterpretAsUInt64(reverse(substring(unhex(hex(dst_addr)), 9, 8))) AS d_lo,
        bytes_scaled AS sb,
        packets_scaled AS sp
    FROM flows
    WHERE time_received >= toDateTime(?) AND time_received < toDateTime(?)
      AND {filter}
)
GROUP BY sh, sl, dh, dl
ORDER BY sbytes DESC, sh, sl, dh, dl
LIMIT ?

-- @query subnet_totals
SELECT
    sum(bytes_scaled) AS sbytes,
    sum(packets_scaled) AS spackets,
    count() AS nflows
FROM flows
WHERE time_received >= toDateTime(?) AND time_received < toDateTime(?)
  AND {filter}
