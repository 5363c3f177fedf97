//! The SQL library: the `sql/*.sql` files of the repository, compiled in with `include_str!` so
//! the library in the repo is exactly what runs.
//!
//! Owns: splitting a file into named queries (`-- @query NAME` lines), the placeholder expansion for
//! the table a query reads ([`Source`]: raw `flows` or a rollup; the only text ever put into SQL,
//! chosen from a fixed set), and binding values in order with a check that the number of `?` marks
//! equals the number of values. Must never: put a caller's string into SQL text; every value is
//! bound with the `clickhouse` crate's `?` binding, which quotes and escapes it.

use clickhouse::Client;
use clickhouse::query::Query;

use crate::ReportError;

/// One file of the library.
#[derive(Clone, Copy, Debug)]
pub struct SqlFile {
    /// File name under `reports/`.
    pub file: &'static str,
    /// The whole file.
    pub text: &'static str,
}

/// Every file of the library, in the order of the report kinds.
pub const LIBRARY: &[SqlFile] = &[
    SqlFile {
        file: "top_talkers.sql",
        text: include_str!("../sql/top_talkers.sql"),
    },
    SqlFile {
        file: "top_apps.sql",
        text: include_str!("../sql/top_apps.sql"),
    },
    SqlFile {
        file: "protocols.sql",
        text: include_str!("../sql/protocols.sql"),
    },
    SqlFile {
        file: "traffic.sql",
        text: include_str!("../sql/traffic.sql"),
    },
    SqlFile {
        file: "interfaces.sql",
        text: include_str!("../sql/interfaces.sql"),
    },
    SqlFile {
        file: "matrix.sql",
        text: include_str!("../sql/matrix.sql"),
    },
    SqlFile {
        file: "exporters.sql",
        text: include_str!("../sql/exporters.sql"),
    },
];

/// The named queries of a file: (name, SQL text after the marker line, comments included).
pub fn queries(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("-- @query ") {
        let after = &rest[at + "-- @query ".len()..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let name = after[..line_end].trim();
        let body_start = (line_end + 1).min(after.len());
        let body = &after[body_start..];
        let end = body.find("-- @query ").unwrap_or(body.len());
        out.push((name, body[..end].trim()));
        rest = &body[end..];
    }
    out
}

/// The query `name` of library file `file`.
pub fn query_text(file: &str, name: &str) -> Result<&'static str, ReportError> {
    let f = LIBRARY
        .iter()
        .find(|f| f.file == file)
        .ok_or_else(|| ReportError::Internal(format!("no SQL file {file}")))?;
    queries(f.text)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, q)| q)
        .ok_or_else(|| ReportError::Internal(format!("no query {name} in {file}")))
}

/// Which table a flow-totals query reads. Each variant fills the placeholders `{table}`, `{ts}`,
/// `{bytes}`, `{packets}` and `{flows}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Raw `flows`.
    Raw,
    /// The 5-minute rollup `flows_5m`.
    Rollup5m,
    /// The 1-hour rollup `flows_1h`.
    Rollup1h,
}

impl Source {
    /// Table name.
    pub fn table(self) -> &'static str {
        match self {
            Source::Raw => "flows",
            Source::Rollup5m => "flows_5m",
            Source::Rollup1h => "flows_1h",
        }
    }

    /// Bucket length in seconds (1 for raw flows).
    pub fn bucket_secs(self) -> u32 {
        match self {
            Source::Raw => 1,
            Source::Rollup5m => 300,
            Source::Rollup1h => 3600,
        }
    }

    fn fill(self, sql: &str) -> String {
        let (ts, bytes, packets, flows) = match self {
            Source::Raw => ("time_received", "bytes_scaled", "packets_scaled", "1"),
            Source::Rollup5m | Source::Rollup1h => {
                ("ts", "scaled_bytes", "scaled_packets", "flow_count")
            }
        };
        sql.replace("{table}", self.table())
            .replace("{ts}", ts)
            .replace("{bytes}", bytes)
            .replace("{packets}", packets)
            .replace("{flows}", flows)
    }
}

/// A value bound to one `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A string (quoted and escaped by the client).
    Str(String),
    /// An unsigned number.
    U64(u64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Str(s.to_string())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Str(s)
    }
}
impl From<u64> for Arg {
    fn from(v: u64) -> Arg {
        Arg::U64(v)
    }
}
impl From<u32> for Arg {
    fn from(v: u32) -> Arg {
        Arg::U64(u64::from(v))
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::U64(v.max(0) as u64)
    }
}

/// Number of bind marks in a query (`??` is a literal `?` and does not count).
pub fn bind_marks(sql: &str) -> usize {
    let b = sql.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        if b[i] == b'?' {
            if b.get(i + 1) == Some(&b'?') {
                i += 2;
                continue;
            }
            n += 1;
        }
        i += 1;
    }
    n
}

/// The SQL that runs for `file`/`name` read from `source` (placeholders filled).
pub fn expanded(file: &str, name: &str, source: Source) -> Result<String, ReportError> {
    let sql = source.fill(query_text(file, name)?);
    if sql.contains('{') {
        return Err(ReportError::Internal(format!(
            "{file}/{name}: unknown placeholder left in SQL"
        )));
    }
    Ok(sql)
}

/// A query with every value bound; fails when the number of values does not match.
pub fn bound(
    client: &Client,
    file: &str,
    name: &str,
    source: Source,
    args: &[Arg],
) -> Result<Query, ReportError> {
    let sql = expanded(file, name, source)?;
    let marks = bind_marks(&sql);
    if marks != args.len() {
        return Err(ReportError::Internal(format!(
            "{file}/{name}: {marks} bind marks but {} values",
            args.len()
        )));
    }
    let mut q = client.query(&sql);
    for a in args {
        q = match a {
            Arg::Str(s) => q.bind(s.as_str()),
            Arg::U64(v) => q.bind(*v),
        };
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_documents_itself_and_has_queries() {
        for f in LIBRARY {
            assert!(
                f.text.starts_with("-- Report: "),
                "{} lacks its header",
                f.file
            );
            assert!(!queries(f.text).is_empty(), "{} has no queries", f.file);
        }
    }

    #[test]
    fn comments_hold_no_bind_marks() {
        for f in LIBRARY {
            for line in f.text.lines().filter(|l| l.trim_start().starts_with("--")) {
                assert!(!line.contains('?'), "{}: comment with ?: {line}", f.file);
            }
        }
    }

    #[test]
    fn placeholders_expand_for_every_source() {
        for f in LIBRARY {
            for (name, _) in queries(f.text) {
                for s in [Source::Raw, Source::Rollup5m, Source::Rollup1h] {
                    let sql = expanded(f.file, name, s).unwrap();
                    assert!(!sql.contains('{'), "{}/{name}", f.file);
                }
            }
        }
    }

    #[test]
    fn queries_split_on_markers() {
        let q = queries("-- head\n-- @query a\nSELECT 1\n\n-- @query b\nSELECT 2\n");
        assert_eq!(q, vec![("a", "SELECT 1"), ("b", "SELECT 2")]);
    }

    #[test]
    fn double_question_mark_is_not_a_bind() {
        assert_eq!(bind_marks("SELECT ? , '??' , ?"), 2);
    }
}
