//! The disk spool: a bounded, crash-safe FIFO of insert batches kept while ClickHouse is unreachable.
//!
//! Owns: the on-disk format below, appending, reading in order, acknowledging, and recovery after a
//! crash (torn tails, corrupt records). Must never: interpret payloads (the writer does), talk to the
//! network, or grow past `max_bytes`.
//!
//! # On-disk format (version 1)
//!
//! A spool is a directory:
//!
//! - **Segments** `NNNNNNNNNNNNNNNNNNNN.seg` (the segment id, 20 decimal digits). Records are only
//!   ever appended to the newest segment; when it reaches the segment size a new one is started. A
//!   segment whose records have all been acknowledged is deleted.
//! - **Records**, back to back in a segment, each:
//!
//!   | bytes | field                                                            |
//!   |-------|------------------------------------------------------------------|
//!   | 4     | `len`: payload length, u32 little-endian (at most [`MAX_RECORD`]) |
//!   | 4     | `crc`: CRC32C (Castagnoli) of the payload, u32 little-endian     |
//!   | len   | payload                                                          |
//!
//! - **Ledger** `ledger`: the read position, 20 bytes: segment id (u64 LE), byte offset in that
//!   segment (u64 LE), CRC32C of those 16 bytes (u32 LE). It is replaced atomically (write
//!   `ledger.tmp`, rename) after every acknowledgement, so a record is acknowledged at most once
//!   the ledger has been renamed; a crash between the insert and the rename replays that record
//!   again (at-least-once; the writer's deduplication token makes the replay harmless on modern
//!   servers).
//!
//! # Recovery
//!
//! On open, every segment from the read position on is walked header by header. A header that is
//! cut short, or whose `len` runs past the end of the file or over [`MAX_RECORD`], is a **torn
//! tail** (the process died mid-append, or the tail is damaged): the segment is truncated there and
//! [`SpoolCounters::torn_tails`] (and `bytes_discarded`) counts it. A record whose CRC does not
//! match is a **corrupt record**: reading skips it and [`SpoolCounters::corrupt_records`] counts
//! it. A missing or damaged ledger restarts from the oldest segment (counted in `ledger_resets`).
//!
//! Durability: appends are plain `write`s (no fsync per record): they survive a process crash, and a
//! machine crash can lose the last records, which recovery then detects as a torn tail.
//!
//! One process per spool directory: there is no lock, and two writers would interleave records.
//!
//! The size bound counts every byte of every segment file, including acknowledged bytes of the
//! oldest segment that is still being read; an append that would pass it fails with
//! [`SpoolError::Full`] and the caller applies its full policy.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Largest payload a record may hold (256 MiB).
pub const MAX_RECORD: u32 = 256 << 20;
const HEADER: u64 = 8;
const LEDGER: &str = "ledger";
const LEDGER_TMP: &str = "ledger.tmp";

/// Spool failure.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The record would push the spool past its bound.
    #[error("spool full ({used} of {max} bytes)")]
    Full {
        /// Bytes in use.
        used: u64,
        /// The bound.
        max: u64,
    },
    /// The payload is larger than [`MAX_RECORD`].
    #[error("record of {0} bytes is larger than the spool's record limit")]
    TooLarge(usize),
    /// File system error.
    #[error("spool i/o: {0}")]
    Io(#[from] io::Error),
}

/// What recovery and reading found wrong, since open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolCounters {
    /// Segments truncated at a torn or damaged tail.
    pub torn_tails: u64,
    /// Records skipped because their CRC did not match.
    pub corrupt_records: u64,
    /// Bytes thrown away by truncation and skipping.
    pub bytes_discarded: u64,
    /// Times the ledger was missing or damaged and reading restarted at the oldest segment.
    pub ledger_resets: u64,
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    id: u64,
    len: u64,
}

struct Peeked {
    payload: Vec<u8>,
    next_off: u64,
}

/// A directory-backed FIFO of byte records. See the module docs for the format.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Oldest first; the last one is the write segment. Never empty.
    segments: VecDeque<Segment>,
    /// Read offset in `segments[0]`.
    read_off: u64,
    writer: File,
    peeked: Option<Peeked>,
    records: u64,
    counters: SpoolCounters,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn read_ledger(dir: &Path) -> Option<(u64, u64)> {
    let b = fs::read(dir.join(LEDGER)).ok()?;
    if b.len() != 20 {
        return None;
    }
    let crc = u32::from_le_bytes(b[16..20].try_into().ok()?);
    if crc32c::crc32c(&b[..16]) != crc {
        return None;
    }
    let seg = u64::from_le_bytes(b[..8].try_into().ok()?);
    let off = u64::from_le_bytes(b[8..16].try_into().ok()?);
    Some((seg, off))
}

fn write_ledger(dir: &Path, seg: u64, off: u64) -> io::Result<()> {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&seg.to_le_bytes());
    b[8..16].copy_from_slice(&off.to_le_bytes());
    let crc = crc32c::crc32c(&b[..16]);
    b[16..].copy_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(LEDGER_TMP);
    fs::write(&tmp, b)?;
    fs::rename(tmp, dir.join(LEDGER))
}

/// Walk the headers of a segment from `from`; returns (records, valid end). Stops at a torn header.
fn walk(path: &Path, from: u64, file_len: u64) -> io::Result<(u64, u64)> {
    let mut f = File::open(path)?;
    let mut off = from;
    let mut n = 0;
    let mut hdr = [0u8; 8];
    while off + HEADER <= file_len {
        f.seek(SeekFrom::Start(off))?;
        f.read_exact(&mut hdr)?;
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        if len > MAX_RECORD || off + HEADER + u64::from(len) > file_len {
            break;
        }
        off += HEADER + u64::from(len);
        n += 1;
    }
    Ok((n, off))
}

impl Spool {
    /// Open (or create) the spool in `dir`, bounded to `max_bytes`. Recovers as the module docs say.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<Spool, SpoolError> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let segment_bytes = (max_bytes / 8).clamp(4096, 64 << 20);
        let mut ids: Vec<u64> = fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".seg")?;
                if stem.len() == 20 {
                    stem.parse().ok()
                } else {
                    None
                }
            })
            .collect();
        ids.sort_unstable();
        let mut counters = SpoolCounters::default();
        let ledger = read_ledger(&dir);
        let (mut read_seg, mut read_off) = match ledger {
            Some(pos) => pos,
            None => {
                if !ids.is_empty() {
                    counters.ledger_resets += 1;
                }
                (ids.first().copied().unwrap_or(0), 0)
            }
        };
        // Segments before the ledger's are fully acknowledged (a crash before their deletion).
        for id in ids.iter().filter(|&&id| id < read_seg) {
            fs::remove_file(seg_path(&dir, *id))?;
        }
        ids.retain(|&id| id >= read_seg);
        if ids.first() != Some(&read_seg) {
            // The ledger's segment is gone: start at the oldest one that exists.
            if ledger.is_some() && !ids.is_empty() {
                counters.ledger_resets += 1;
            }
            read_seg = ids.first().copied().unwrap_or(read_seg);
            read_off = 0;
        }
        if ids.is_empty() {
            File::create(seg_path(&dir, read_seg))?;
            ids.push(read_seg);
        }
        let mut segments = VecDeque::new();
        let mut records = 0;
        for (i, &id) in ids.iter().enumerate() {
            let path = seg_path(&dir, id);
            let file_len = fs::metadata(&path)?.len();
            let from = if i == 0 { read_off.min(file_len) } else { 0 };
            let (n, end) = walk(&path, from, file_len)?;
            if end < file_len {
                counters.torn_tails += 1;
                counters.bytes_discarded += file_len - end;
                OpenOptions::new().write(true).open(&path)?.set_len(end)?;
                tracing::warn!(segment = %path.display(), at = end, discarded = file_len - end,
                    "spool: torn or damaged tail truncated");
            }
            records += n;
            segments.push_back(Segment { id, len: end });
        }
        read_off = read_off.min(segments[0].len);
        let last = segments.back().map(|s| s.id).unwrap_or(read_seg);
        let writer = OpenOptions::new().append(true).open(seg_path(&dir, last))?;
        write_ledger(&dir, segments[0].id, read_off)?;
        Ok(Spool {
            dir,
            max_bytes,
            segment_bytes,
            segments,
            read_off,
            writer,
            peeked: None,
            records,
            counters,
        })
    }

    /// Bytes on disk (all segment files).
    pub fn disk_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// Records not yet acknowledged (including corrupt ones not yet skipped).
    pub fn len(&self) -> u64 {
        self.records
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The bound, bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Recovery and read counters.
    pub fn counters(&self) -> SpoolCounters {
        self.counters
    }

    /// Whether a payload of `len` bytes fits now.
    pub fn fits(&self, len: usize) -> bool {
        self.disk_bytes() + HEADER + len as u64 <= self.max_bytes
    }

    /// Append one record at the tail.
    pub fn append(&mut self, payload: &[u8]) -> Result<(), SpoolError> {
        if payload.len() > MAX_RECORD as usize {
            return Err(SpoolError::TooLarge(payload.len()));
        }
        if !self.fits(payload.len()) {
            return Err(SpoolError::Full {
                used: self.disk_bytes(),
                max: self.max_bytes,
            });
        }
        let mut hdr = [0u8; HEADER as usize];
        hdr[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        hdr[4..].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        // Two writes, no copy of the payload; a crash in between leaves a torn tail.
        let written = self
            .writer
            .write_all(&hdr)
            .and_then(|()| self.writer.write_all(payload));
        if let Err(e) = written {
            // E.g. disk full: cut the partial record off so that later appends stay readable.
            let len = self.segments.back().map_or(0, |s| s.len);
            let _ = self.writer.set_len(len);
            return Err(e.into());
        }
        let back = self.segments.back_mut().expect("spool has a write segment");
        back.len += HEADER + payload.len() as u64;
        self.records += 1;
        if back.len >= self.segment_bytes {
            self.roll()?;
        }
        Ok(())
    }

    /// Start a new, empty write segment.
    fn roll(&mut self) -> io::Result<()> {
        let id = self.segments.back().map_or(0, |s| s.id + 1);
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(seg_path(&self.dir, id))?;
        self.writer = f;
        self.segments.push_back(Segment { id, len: 0 });
        Ok(())
    }

    /// Drop the oldest segment (fully read) and move the read position to the next one.
    fn drop_front(&mut self) -> io::Result<()> {
        if self.segments.len() == 1 {
            self.roll()?;
        }
        let old = self.segments.pop_front().expect("at least two segments");
        self.read_off = 0;
        write_ledger(&self.dir, self.segments[0].id, 0)?;
        fs::remove_file(seg_path(&self.dir, old.id))
    }

    /// The oldest unacknowledged record, skipping (and counting) corrupt ones. Repeated calls
    /// return the same record until [`Spool::ack`].
    pub fn peek(&mut self) -> Result<Option<&[u8]>, SpoolError> {
        if self.peeked.is_none() {
            self.peeked = self.read_next()?;
        }
        Ok(self.peeked.as_ref().map(|p| p.payload.as_slice()))
    }

    fn read_next(&mut self) -> Result<Option<Peeked>, SpoolError> {
        loop {
            let front = self.segments[0];
            if self.read_off + HEADER > front.len {
                if self.segments.len() == 1 {
                    return Ok(None);
                }
                self.drop_front()?;
                continue;
            }
            let mut f = File::open(seg_path(&self.dir, front.id))?;
            f.seek(SeekFrom::Start(self.read_off))?;
            let mut hdr = [0u8; 8];
            f.read_exact(&mut hdr)?;
            let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
            let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
            let end = self.read_off + HEADER + u64::from(len);
            if len > MAX_RECORD || end > front.len {
                // Open walked these headers, so this is damage since then: skip the segment's rest.
                self.counters.torn_tails += 1;
                self.counters.bytes_discarded += front.len - self.read_off;
                self.records = self.records.saturating_sub(1);
                self.read_off = front.len;
                continue;
            }
            let mut payload = vec![0u8; len as usize];
            f.read_exact(&mut payload)?;
            if crc32c::crc32c(&payload) != crc {
                self.counters.corrupt_records += 1;
                self.counters.bytes_discarded += end - self.read_off;
                self.records = self.records.saturating_sub(1);
                self.read_off = end;
                write_ledger(&self.dir, front.id, end)?;
                tracing::warn!(segment = front.id, "spool: record with bad CRC skipped");
                continue;
            }
            return Ok(Some(Peeked {
                payload,
                next_off: end,
            }));
        }
    }

    /// Acknowledge the record last returned by [`Spool::peek`]: it will not be returned again, even
    /// after a restart. Does nothing when nothing was peeked.
    pub fn ack(&mut self) -> Result<(), SpoolError> {
        let Some(p) = self.peeked.take() else {
            return Ok(());
        };
        self.read_off = p.next_off;
        self.records = self.records.saturating_sub(1);
        if self.read_off >= self.segments[0].len {
            // Fully read: reclaim the segment (a fresh one becomes the write segment if needed).
            self.drop_front()?;
        } else {
            write_ledger(&self.dir, self.segments[0].id, self.read_off)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .collect();
        v.sort();
        v
    }

    fn drain(s: &mut Spool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(p) = s.peek().unwrap() {
            out.push(p.to_vec());
            s.ack().unwrap();
        }
        out
    }

    #[test]
    fn records_survive_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        for i in 0..10u8 {
            s.append(&[i; 100]).unwrap();
        }
        assert_eq!(s.peek().unwrap().unwrap(), &[0u8; 100]);
        s.ack().unwrap();
        drop(s);
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.len(), 9);
        let got = drain(&mut s);
        assert_eq!(got, (1..10u8).map(|i| vec![i; 100]).collect::<Vec<_>>());
        assert!(s.is_empty());
        assert_eq!(s.counters(), SpoolCounters::default());
    }

    #[test]
    fn torn_tail_is_truncated_and_counted_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        s.append(b"one").unwrap();
        s.append(b"two").unwrap();
        drop(s);
        let seg = seg_files(dir.path()).pop().unwrap();
        // A half-written record: header says 100 bytes, only 5 arrived.
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&100u32.to_le_bytes()).unwrap();
        f.write_all(&[1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
        drop(f);
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.counters().torn_tails, 1);
        assert_eq!(s.counters().bytes_discarded, 13);
        s.append(b"three").unwrap();
        assert_eq!(
            drain(&mut s),
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
    }

    #[test]
    fn corrupt_record_is_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        s.append(b"aaaa").unwrap();
        s.append(b"bbbb").unwrap();
        s.append(b"cccc").unwrap();
        drop(s);
        let seg = seg_files(dir.path()).pop().unwrap();
        let mut bytes = fs::read(&seg).unwrap();
        bytes[12 + 8 + 1] ^= 0xff; // inside the payload of the second record
        fs::write(&seg, bytes).unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(drain(&mut s), vec![b"aaaa".to_vec(), b"cccc".to_vec()]);
        assert_eq!(s.counters().corrupt_records, 1);
    }

    #[test]
    fn full_spool_refuses_and_frees_space_after_ack() {
        let dir = tempfile::tempdir().unwrap();
        // 32 KiB bound, 4 KiB segments.
        let mut s = Spool::open(dir.path(), 32 << 10).unwrap();
        let rec = vec![7u8; 1000];
        let mut n = 0;
        while s.append(&rec).is_ok() {
            n += 1;
        }
        assert!((28..=32).contains(&n), "{n}");
        assert!(matches!(s.append(&rec), Err(SpoolError::Full { .. })));
        assert!(s.disk_bytes() <= 32 << 10);
        for _ in 0..8 {
            s.peek().unwrap();
            s.ack().unwrap();
        }
        s.append(&rec).unwrap();
        assert_eq!(s.len(), n - 8 + 1);
    }

    #[test]
    fn damaged_ledger_restarts_from_oldest_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        s.append(b"x").unwrap();
        s.append(b"y").unwrap();
        s.peek().unwrap();
        s.ack().unwrap();
        drop(s);
        fs::write(dir.path().join(LEDGER), b"garbage").unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.counters().ledger_resets, 1);
        // At-least-once: the acknowledged "x" comes again.
        assert_eq!(drain(&mut s), vec![b"x".to_vec(), b"y".to_vec()]);
    }
}
