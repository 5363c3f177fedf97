//! Dead letters: batches ClickHouse refused for good, kept on disk for a person to read and re-drive.
//!
//! Owns: the dead-letter directory of a writer (`SPOOL_DIR/dead-letter`), bounded in bytes. Each
//! refused batch becomes two files with one stem, `MILLIS-TABLE-TOKEN`:
//! - `.rowbinary`: the batch exactly as the writer sent it (the spool payload: header, then RowBinary
//!   rows), so `sluice spool retry` can insert it again, with the same batch id;
//! - `.txt`: the error text the server gave, then the rows as tab-separated text under a header of
//!   column names.
//!
//! Must never: lose a batch silently. When the directory is full, [`DeadLetters::write`] refuses and
//! the writer keeps the batch in its spool instead (and reports itself unhealthy).

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use crate::rows::Ty;

/// The directory name under a spool directory.
pub const DIR: &str = "dead-letter";

/// Why a dead letter could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The directory holds `used` bytes; the batch would pass `max`.
    #[error("dead-letter directory {dir} is full ({used} of {max} bytes)")]
    Full {
        /// The directory.
        dir: String,
        /// Bytes used.
        used: u64,
        /// The bound.
        max: u64,
    },
    /// A file operation failed.
    #[error("dead-letter directory {dir}: {source}")]
    Io {
        /// The directory.
        dir: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// One dead letter on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The `.rowbinary` file (the `.txt` beside it has the same stem).
    pub payload: PathBuf,
    /// Its size.
    pub bytes: u64,
}

impl DeadLetter {
    /// The readable file beside the payload.
    pub fn text(&self) -> PathBuf {
        self.payload.with_extension("txt")
    }
}

/// A writer's dead-letter directory.
#[derive(Clone, Debug)]
pub struct DeadLetters {
    dir: PathBuf,
    max_bytes: u64,
}

impl DeadLetters {
    /// The dead letters of the spool in `spool_dir`, bounded by `max_bytes` (both files counted).
    pub fn new(spool_dir: &Path, max_bytes: u64) -> DeadLetters {
        DeadLetters {
            dir: spool_dir.join(DIR),
            max_bytes,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, source: std::io::Error) -> DeadLetterError {
        DeadLetterError::Io {
            dir: self.dir.display().to_string(),
            source,
        }
    }

    /// Every dead letter, oldest first.
    pub fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(|e| self.io(e))?;
            let path = e.path();
            if path.extension().is_some_and(|x| x == "rowbinary") {
                let bytes = e.metadata().map_err(|e| self.io(e))?.len();
                out.push(DeadLetter {
                    payload: path,
                    bytes,
                });
            }
        }
        out.sort_by(|a, b| a.payload.cmp(&b.payload));
        Ok(out)
    }

    /// Bytes used by every file of the directory.
    pub fn used_bytes(&self) -> Result<u64, DeadLetterError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.io(e)),
        };
        let mut n = 0;
        for e in entries {
            n += e
                .map_err(|e| self.io(e))?
                .metadata()
                .map_err(|e| self.io(e))?
                .len();
        }
        Ok(n)
    }

    /// Write a refused batch: `payload` as sent, and `text` (the error and the rows, see
    /// [`render`]). Both files are written to temporary names, synced, then renamed.
    pub fn write(
        &self,
        stem: &str,
        payload: &[u8],
        text: &str,
    ) -> Result<DeadLetter, DeadLetterError> {
        fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        let used = self.used_bytes()?;
        let need = (payload.len() + text.len()) as u64;
        if used + need > self.max_bytes {
            return Err(DeadLetterError::Full {
                dir: self.dir.display().to_string(),
                used,
                max: self.max_bytes,
            });
        }
        let put = |name: String, data: &[u8]| -> std::io::Result<PathBuf> {
            let path = self.dir.join(&name);
            let tmp = self.dir.join(format!("{name}.tmp"));
            let mut f = fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            Ok(path)
        };
        put(format!("{stem}.txt"), text.as_bytes()).map_err(|e| self.io(e))?;
        let payload_path = put(format!("{stem}.rowbinary"), payload).map_err(|e| self.io(e))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(DeadLetter {
            payload: payload_path,
            bytes: payload.len() as u64,
        })
    }

    /// Remove a dead letter (both files), after it was stored.
    pub fn remove(&self, d: &DeadLetter) -> Result<(), DeadLetterError> {
        for p in [d.payload.clone(), d.text()] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(())
    }
}

/// RowBinary `body` of `rows` rows of the given columns as tab-separated text under a header line
/// (addresses in their usual form, IPv4 as a dotted quad; times as Unix seconds). Stops with a
/// note at the first value that does not parse (the bytes stay in the `.rowbinary` file).
pub fn render(columns: &[&str], types: &[Ty], body: &[u8], rows: u32) -> String {
    let mut out = columns.join("\t");
    out.push('\n');
    let mut at = 0usize;
    for r in 0..rows {
        let mut line = String::new();
        for (i, ty) in types.iter().enumerate() {
            if i > 0 {
                line.push('\t');
            }
            match read_value(*ty, body, &mut at, &mut line) {
                Some(()) => {}
                None => {
                    let _ = writeln!(
                        out,
                        "# row {r}: column {} does not parse at byte {at}",
                        columns.get(i).copied().unwrap_or("?")
                    );
                    return out;
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    if at != body.len() {
        let _ = writeln!(out, "# {} bytes after the last row", body.len() - at);
    }
    out
}

fn take<'a>(body: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = body.get(*at..at.checked_add(n)?)?;
    *at += n;
    Some(s)
}

fn read_value(ty: Ty, body: &[u8], at: &mut usize, out: &mut String) -> Option<()> {
    match ty {
        Ty::U8 => write!(out, "{}", take(body, at, 1)?[0]).ok(),
        Ty::U16 => write!(
            out,
            "{}",
            u16::from_le_bytes(take(body, at, 2)?.try_into().ok()?)
        )
        .ok(),
        Ty::U32 | Ty::DateTime => write!(
            out,
            "{}",
            u32::from_le_bytes(take(body, at, 4)?.try_into().ok()?)
        )
        .ok(),
        Ty::U64 => write!(
            out,
            "{}",
            u64::from_le_bytes(take(body, at, 8)?.try_into().ok()?)
        )
        .ok(),
        Ty::I64 => write!(
            out,
            "{}",
            i64::from_le_bytes(take(body, at, 8)?.try_into().ok()?)
        )
        .ok(),
        Ty::Addr => {
            let b: [u8; 16] = take(body, at, 16)?.try_into().ok()?;
            let a = Ipv6Addr::from(b);
            match a.to_ipv4_mapped() {
                Some(v4) => write!(out, "{v4}").ok(),
                None => write!(out, "{a}").ok(),
            }
        }
        Ty::Str => {
            let mut len = 0u64;
            let mut shift = 0;
            loop {
                let b = take(body, at, 1)?[0];
                len |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    break;
                }
                shift += 7;
                if shift > 63 {
                    return None;
                }
            }
            let s = take(body, at, usize::try_from(len).ok()?)?;
            for c in String::from_utf8_lossy(s).chars() {
                match c {
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\\' => out.push_str("\\\\"),
                    c => out.push(c),
                }
            }
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows;
    use collector::{FlowRecord, SamplingSource};

    fn flow(i: u32) -> FlowRecord {
        FlowRecord {
            time_received: 1_800_000_000_000 + i64::from(i),
            exporter: std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
            observation_domain: i,
            version: 10,
            src_addr: Some("2001:db8::1".parse().unwrap()),
            dst_addr: Some(std::net::Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped()),
            src_port: Some(50_000),
            dst_port: Some(443),
            protocol: Some(6),
            bytes: 1500,
            packets: 3,
            sampling_rate: 10,
            sampling_source: SamplingSource::Record,
            ..Default::default()
        }
    }

    #[test]
    fn renders_the_rows_of_a_flows_batch_column_by_column() {
        let mut body = Vec::new();
        for i in 0..3 {
            rows::encode_flow_row(&mut body, &flow(i), 77, None);
        }
        assert_eq!(rows::FLOWS_TYPES.len(), rows::FLOWS_COLUMNS.len());
        let text = render(rows::FLOWS_COLUMNS, rows::FLOWS_TYPES, &body, 3);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("time_received\texporter\t"));
        let cells: Vec<&str> = lines[2].split('\t').collect();
        assert_eq!(cells.len(), rows::FLOWS_COLUMNS.len());
        assert_eq!(cells[0], "1800000000");
        assert_eq!(cells[1], "192.0.2.1");
        assert_eq!(cells[2], "1");
        assert_eq!(cells[6], "2001:db8::1");
        assert_eq!(cells[7], "198.51.100.7");
        assert_eq!(cells[16], "record");
        assert_eq!(cells[38], "77");
        assert_eq!(cells[39], "", "src_net_name, enrichment off");
        assert_eq!(*cells.last().unwrap(), "0", "out_if_speed, enrichment off");
        assert!(!text.contains('#'), "every byte used: {text}");
    }

    #[test]
    fn window_types_match_their_columns() {
        assert_eq!(rows::WINDOW_TOP_TYPES.len(), rows::WINDOW_TOP_COLUMNS.len());
        assert_eq!(
            rows::WINDOW_TOTALS_TYPES.len(),
            rows::WINDOW_TOTALS_COLUMNS.len()
        );
    }

    #[test]
    fn a_short_body_is_noted_not_a_panic() {
        let mut body = Vec::new();
        rows::encode_flow(&mut body, &flow(0));
        body.truncate(body.len() - 5);
        let text = render(rows::FLOWS_COLUMNS, rows::FLOWS_TYPES, &body, 1);
        assert!(text.contains("does not parse"), "{text}");
    }

    #[test]
    fn writes_lists_bounds_and_removes_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let d = DeadLetters::new(dir.path(), 1000);
        assert!(d.list().unwrap().is_empty());
        let a = d.write("1-flows-a", &[1u8; 300], "error a\n").unwrap();
        let b = d.write("2-flows-b", &[2u8; 300], "error b\n").unwrap();
        assert_eq!(d.list().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(std::fs::read(&a.payload).unwrap(), vec![1u8; 300]);
        assert_eq!(std::fs::read_to_string(a.text()).unwrap(), "error a\n");
        let full = d.write("3-flows-c", &[3u8; 500], "error c\n").unwrap_err();
        assert!(matches!(full, DeadLetterError::Full { .. }), "{full}");
        d.remove(&a).unwrap();
        assert_eq!(d.list().unwrap(), vec![b]);
        d.write("3-flows-c", &[3u8; 500], "error c\n").unwrap();
    }
}
