-- Report: explore (GET /api/v1/top and /api/v1/series: the console's top N and time series by
-- any dimension; served by sluice web, and by sluice run with [web])
--
-- One dimension (a field of report/src/fields.rs) grouped over a time range, with the filter of the
-- filter language, ranked by scaled bytes, packets or flow records. The program adds the "other"
-- row (total minus the rows) and, for series, the other and total series per bucket.
--
-- Placeholders (each filled from a fixed set; no caller text):
--   {dim}        the dimension's stored column (`src_addr`, `protocol`, `src_country`, ...);
--   {dim_text}   the grouped value `d` as text: hex(d) for addresses (the 16 stored bytes on both
--                tiers), toString(d) otherwise;
--   {dim_in}     the dimension among given keys: `hex(col) IN (marks)`, `toString(col) IN (marks)`
--                or `col IN (marks)`, its values bound where it stands;
--   {dim_table}  flows | flows_5m | flows_1h | flows_enrich_5m | flows_enrich_1h, or the hour split
--                over a pair (see library.rs), the coarsest table holding the dimension and every
--                filter field at a grain that divides the step (series) or both ends (top);
--   {metric}     the ranking: sbytes | spackets | nflows;
--   {in_marks}   one bind mark per given key, comma-separated (never empty: the program skips the query);
--   {ts} {bytes} {packets} {flows} {filter} as in top_apps.sql.
-- The inner query groups by the stored column and the outer one turns the grouped keys into text,
-- so no per-row string is made (as in traffic.sql).
-- Binds, in order (plus the values of {dim_table}, {filter} and {dim_in}, inserted where they stand):
--   top_rows:      from, to, limit
--   totals:        from, to
--   series_split:  step, step, from, to
--   as_names, if_names: only {in_marks}; exporter_names: none

-- @query top_rows
SELECT {dim_text} AS k, sbytes, spackets, nflows
FROM
(
    SELECT {dim} AS d, sum({bytes}) AS sbytes, sum({packets}) AS spackets, sum({flows}) AS nflows
    FROM {dim_table}
    WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
      AND {filter}
    GROUP BY d
    ORDER BY {metric} DESC, d
    LIMIT ?
)

-- @query totals
SELECT sum({bytes}) AS sbytes, sum({packets}) AS spackets, sum({flows}) AS nflows
FROM {dim_table}
WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
  AND {filter}

-- @query series_split
-- One pass for the top keys' series and the total: rows of the given keys are grouped by key,
-- every other row by the column's default value with top = 0 (the program adds all rows of a
-- bucket for its total, and the top = 1 rows for the keys).
SELECT
    toUInt32(intDiv(toUInt32(t), ?) * ?) AS bucket,
    top,
    {dim_text} AS k,
    sum(b) AS sbytes,
    sum(pk) AS spackets,
    sum(n) AS nflows
FROM
(
    SELECT {ts} AS t, {dim_in} AS top, if(top, {dim}, defaultValueOfArgumentType({dim})) AS d,
        sum({bytes}) AS b, sum({packets}) AS pk, sum({flows}) AS n
    FROM {dim_table}
    WHERE {ts} >= toDateTime(?) AND {ts} < toDateTime(?)
      AND {filter}
    GROUP BY t, top, d
)
GROUP BY bucket, top, d
ORDER BY bucket, top, k

-- @query as_names
-- Names of the given AS numbers (latest per AS).
SELECT asn, toString(argMax(name, last_seen)) AS n
FROM as_names
WHERE asn IN ({in_marks})
GROUP BY asn

-- @query if_names
-- Names of the given ifIndexes across exporters (distinct, non-empty).
SELECT ifindex, arrayStringConcat(arraySort(groupUniqArray(toString(name))), ' / ') AS n
FROM interfaces
WHERE ifindex IN ({in_marks}) AND name != ''
GROUP BY ifindex

-- @query exporter_names
-- Names of the exporters (latest per address).
SELECT hex(address) AS a, toString(argMax(name, last_seen)) AS n
FROM exporters
GROUP BY a
