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
//!   `ledger.tmp`, fsync it, rename it over `ledger`, fsync the directory) after every
//!   acknowledgement, so a record is acknowledged at most once the ledger has been renamed; a crash
//!   between the insert and the rename replays that record again (at-least-once; the writer's
//!   deduplication token makes the replay harmless on modern servers).
//! - **Lock** `lock`: holds the pid (decimal, newline) of the process that has the spool open.
//!   [`Spool::open`] takes an exclusive, non-blocking `flock` on it and keeps it until the spool is
//!   dropped, so a second process (or a second open in the same process) on the same directory fails
//!   with [`SpoolError::Locked`] instead of interleaving records. The file is never deleted (deleting
//!   a flock'd file races with the next opener); a stale pid in it means nothing without the lock.
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
//! # Durability
//!
//! A process crash loses nothing that [`Spool::append`] accepted: the bytes are in the page cache.
//! What survives a machine crash (power loss, kernel panic) depends on the [`FsyncPolicy`]:
//!
//! - [`FsyncPolicy::Batch`] (the default): the segment is `fdatasync`ed before `append` returns
//!   and the ledger is fsynced (the rename path above) on every acknowledgement, so an accepted
//!   record survives and an acknowledged one is not replayed.
//! - [`FsyncPolicy::Interval`]: at most one fsync of the data and the ledger per interval (when an
//!   append or acknowledgement finds the last one older than that, when the writer's timer calls
//!   [`Spool::sync_if_due`]), and always on rotation and when the spool is dropped. A machine crash
//!   loses the records appended since the last fsync (seen as a torn tail, or not at all) and
//!   replays records acknowledged since then.
//! - [`FsyncPolicy::Never`]: no fsync at all; the kernel writes back when it likes (typically
//!   within 30 s).
//!
//! Under every policy but `Never`, the directory is fsynced after a segment file is created or
//! deleted and after the ledger rename, so the names themselves survive.
//!
//! The size bound counts every byte of every segment file, including acknowledged bytes of the
//! oldest segment that is still being read; an append that would pass it fails with
//! [`SpoolError::Full`] and the caller applies its full policy.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest payload a record may hold (256 MiB).
pub const MAX_RECORD: u32 = 256 << 20;
const HEADER: u64 = 8;
const LEDGER: &str = "ledger";
const LEDGER_TMP: &str = "ledger.tmp";
const LOCK: &str = "lock";

/// When the spool calls fsync. See the module docs, Durability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Fsync the segment after every append and the ledger after every acknowledgement.
    #[default]
    Batch,
    /// Fsync data and ledger at most once per this interval, and on rotation and drop.
    Interval(Duration),
    /// Never fsync; leave write-back to the kernel.
    Never,
}

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
    /// Another process (or another open [`Spool`] in this one) holds the directory's lock.
    #[error(
        "spool directory {} is in use{} (its `lock` file is locked); two sluice processes cannot share a spool directory",
        .dir.display(),
        .pid.map_or(String::new(), |p| format!(" by pid {p}"))
    )]
    Locked {
        /// The spool directory.
        dir: PathBuf,
        /// The holder's pid, as written in the lock file (None when unreadable).
        pid: Option<u32>,
    },
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
    fsync: FsyncPolicy,
    /// Interval policy: appended bytes not yet fsynced.
    data_dirty: bool,
    /// Interval policy: the ledger was renamed without fsync.
    ledger_dirty: bool,
    last_sync: Instant,
    /// Holds the directory's flock until the spool is dropped.
    _lock: File,
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

fn write_ledger(dir: &Path, seg: u64, off: u64, durable: bool) -> io::Result<()> {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&seg.to_le_bytes());
    b[8..16].copy_from_slice(&off.to_le_bytes());
    let crc = crc32c::crc32c(&b[..16]);
    b[16..].copy_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(LEDGER_TMP);
    let mut f = File::create(&tmp)?;
    f.write_all(&b)?;
    if durable {
        f.sync_all()?;
    }
    drop(f);
    fs::rename(tmp, dir.join(LEDGER))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Fsync a directory, so that files created, renamed or deleted in it stay so after a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Take the directory's exclusive lock and write our pid into the lock file.
fn lock_dir(dir: &Path) -> Result<File, SpoolError> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK))?;
    // Through the trait: std's own `File::try_lock` is newer than the crate's rust-version.
    match fs4::FileExt::try_lock(&f) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let mut s = String::new();
            let pid = f
                .read_to_string(&mut s)
                .ok()
                .and_then(|_| s.trim().parse().ok());
            return Err(SpoolError::Locked {
                dir: dir.to_path_buf(),
                pid,
            });
        }
        Err(fs4::TryLockError::Error(e)) => return Err(e.into()),
    }
    f.set_len(0)?;
    f.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    Ok(f)
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
    /// Open (or create) the spool in `dir`, bounded to `max_bytes`, with [`FsyncPolicy::Batch`].
    /// Recovers as the module docs say.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<Spool, SpoolError> {
        Self::open_with(dir, max_bytes, FsyncPolicy::default())
    }

    /// Open (or create) the spool in `dir`, bounded to `max_bytes`, fsyncing as `fsync` says. Takes
    /// the directory's lock first ([`SpoolError::Locked`] when another holder has it).
    pub fn open_with(
        dir: impl Into<PathBuf>,
        max_bytes: u64,
        fsync: FsyncPolicy,
    ) -> Result<Spool, SpoolError> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let lock = lock_dir(&dir)?;
        let durable = fsync != FsyncPolicy::Never;
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
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(end)?;
                if durable {
                    f.sync_all()?;
                }
                tracing::warn!(segment = %path.display(), at = end, discarded = file_len - end,
                    "spool: torn or damaged tail truncated");
            }
            records += n;
            segments.push_back(Segment { id, len: end });
        }
        read_off = read_off.min(segments[0].len);
        let last = segments.back().map(|s| s.id).unwrap_or(read_seg);
        let writer = OpenOptions::new().append(true).open(seg_path(&dir, last))?;
        // Durable: also makes the segments created and deleted above stick (directory fsync).
        write_ledger(&dir, segments[0].id, read_off, durable)?;
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
            fsync,
            data_dirty: false,
            ledger_dirty: false,
            last_sync: Instant::now(),
            _lock: lock,
        })
    }

    /// The fsync policy.
    pub fn fsync_policy(&self) -> FsyncPolicy {
        self.fsync
    }

    /// Interval policy: whether the last fsync is at least an interval old.
    fn due(&self) -> bool {
        match self.fsync {
            FsyncPolicy::Interval(every) => self.last_sync.elapsed() >= every,
            _ => false,
        }
    }

    /// Fsync whatever the interval policy left pending (appended data, the ledger). A no-op under
    /// the other policies, which leave nothing pending.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        Ok(self.sync_pending()?)
    }

    fn sync_pending(&mut self) -> io::Result<()> {
        if self.data_dirty {
            self.writer.sync_data()?;
            self.data_dirty = false;
        }
        if self.ledger_dirty {
            write_ledger(&self.dir, self.segments[0].id, self.read_off, true)?;
            self.ledger_dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// [`Spool::sync`] when something is pending and the interval has passed; for a caller's timer,
    /// so that pending data does not wait for the next append or acknowledgement.
    pub fn sync_if_due(&mut self) -> Result<(), SpoolError> {
        if self.sync_due() {
            self.sync_pending()?;
        }
        Ok(())
    }

    /// Whether [`Spool::sync_if_due`] has something to do now (no I/O: for a caller that runs the
    /// fsync elsewhere, e.g. on a blocking thread, only when needed).
    pub fn sync_due(&self) -> bool {
        (self.data_dirty || self.ledger_dirty) && self.due()
    }

    /// Record the read position as the policy says.
    fn save_ledger(&mut self) -> io::Result<()> {
        let (seg, off) = (self.segments[0].id, self.read_off);
        match self.fsync {
            FsyncPolicy::Batch => write_ledger(&self.dir, seg, off, true),
            FsyncPolicy::Never => write_ledger(&self.dir, seg, off, false),
            FsyncPolicy::Interval(_) => {
                self.ledger_dirty = true;
                if self.due() {
                    self.sync_pending()
                } else {
                    write_ledger(&self.dir, seg, off, false)
                }
            }
        }
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
        let sync_now = match self.fsync {
            FsyncPolicy::Batch => true,
            FsyncPolicy::Interval(_) => self.due(),
            FsyncPolicy::Never => false,
        };
        let written = self
            .writer
            .write_all(&hdr)
            .and_then(|()| self.writer.write_all(payload))
            .and_then(|()| {
                if sync_now {
                    self.writer.sync_data()
                } else {
                    Ok(())
                }
            });
        if let Err(e) = written {
            // E.g. disk full, or fsync failed: cut the record off so that later appends stay
            // readable and the caller's "not stored" is true.
            let len = self.segments.back().map_or(0, |s| s.len);
            let _ = self.writer.set_len(len);
            return Err(e.into());
        }
        if let FsyncPolicy::Interval(_) = self.fsync {
            self.data_dirty = !sync_now;
            if sync_now {
                self.last_sync = Instant::now();
            }
        }
        let back = self.segments.back_mut().expect("spool has a write segment");
        back.len += HEADER + payload.len() as u64;
        self.records += 1;
        if back.len >= self.segment_bytes {
            self.roll()?;
        }
        Ok(())
    }

    /// Start a new, empty write segment (the old one fsynced first, then the directory).
    fn roll(&mut self) -> io::Result<()> {
        if self.data_dirty {
            self.writer.sync_data()?;
            self.data_dirty = false;
        }
        let id = self.segments.back().map_or(0, |s| s.id + 1);
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(seg_path(&self.dir, id))?;
        if self.fsync != FsyncPolicy::Never {
            sync_dir(&self.dir)?;
        }
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
        // Rotation fsyncs under every policy but Never: the ledger must name the next segment on
        // disk before the old one goes, or a crash could resurrect acknowledged records.
        let durable = self.fsync != FsyncPolicy::Never;
        write_ledger(&self.dir, self.segments[0].id, 0, durable)?;
        self.ledger_dirty = false;
        fs::remove_file(seg_path(&self.dir, old.id))?;
        if durable {
            sync_dir(&self.dir)?;
        }
        Ok(())
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
                self.save_ledger()?;
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
            self.save_ledger()?;
        }
        Ok(())
    }
}

impl Drop for Spool {
    /// Closing: fsync what the interval policy left pending (errors can only be logged here).
    fn drop(&mut self) {
        if (self.data_dirty || self.ledger_dirty)
            && let Err(e) = self.sync_pending()
        {
            tracing::warn!(dir = %self.dir.display(), "spool: fsync on close failed: {e}");
        }
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

    #[test]
    fn second_open_of_a_locked_directory_fails_naming_dir_and_pid() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), 1 << 20).unwrap();
        // flock belongs to the open file description: a second open in this process conflicts too.
        let err = Spool::open(dir.path(), 1 << 20)
            .err()
            .expect("second open must fail");
        match &err {
            SpoolError::Locked { dir: d, pid } => {
                assert_eq!(d, dir.path());
                assert_eq!(*pid, Some(std::process::id()));
            }
            other => panic!("expected Locked, got {other}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(s);
        Spool::open(dir.path(), 1 << 20).expect("the lock goes with the spool");
    }

    /// Env var that turns [`child_process_helper`] into a spool user in a child process.
    const CHILD_DIR: &str = "SLUICE_SPOOL_TEST_CHILD_DIR";
    const CHILD_MODE: &str = "SLUICE_SPOOL_TEST_CHILD_MODE";

    fn spawn_child(dir: &Path, mode: &str) -> std::process::Child {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "spool::tests::child_process_helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir)
            .env(CHILD_MODE, mode)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Not a test of its own: the body of the child process the tests below start.
    #[test]
    fn child_process_helper() {
        let (Ok(dir), Ok(mode)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_MODE)) else {
            return;
        };
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        match mode.as_str() {
            "hold" => {
                println!("\nspool-child-locked");
                io::stdout().flush().unwrap();
                // Hold the spool until the parent closes our stdin.
                let _ = io::stdin().read_to_end(&mut Vec::new());
            }
            "crash" => {
                s.append(b"acked").unwrap();
                s.append(b"unacked").unwrap();
                s.peek().unwrap();
                s.ack().unwrap();
                s.peek().unwrap(); // peeked, never acknowledged
                std::process::abort();
            }
            _ => unreachable!(),
        }
        drop(s);
    }

    #[test]
    fn another_process_holding_the_spool_is_named_by_pid() {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_child(dir.path(), "hold");
        let mut out = io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("spool-child-locked") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        }
        match Spool::open(dir.path(), 1 << 20) {
            Err(SpoolError::Locked { pid, .. }) => assert_eq!(pid, Some(child.id())),
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("opened a spool another process holds"),
        }
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        Spool::open(dir.path(), 1 << 20).expect("free once the holder exited");
    }

    #[test]
    fn a_crash_after_an_unacknowledged_append_replays_it() {
        let dir = tempfile::tempdir().unwrap();
        let status = spawn_child(dir.path(), "crash").wait().unwrap();
        assert!(!status.success(), "the child aborts");
        // The kernel released the dead process's lock; the record it never acknowledged is back.
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(drain(&mut s), vec![b"unacked".to_vec()]);
        assert_eq!(s.counters(), SpoolCounters::default());
    }

    #[test]
    fn dropping_without_ack_replays_under_every_policy() {
        for policy in [
            FsyncPolicy::Batch,
            FsyncPolicy::Interval(Duration::from_secs(3600)),
            FsyncPolicy::Never,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut s = Spool::open_with(dir.path(), 1 << 20, policy).unwrap();
            s.append(b"one").unwrap();
            s.append(b"two").unwrap();
            s.peek().unwrap();
            s.ack().unwrap();
            s.peek().unwrap();
            drop(s);
            let mut s = Spool::open_with(dir.path(), 1 << 20, policy).unwrap();
            assert_eq!(drain(&mut s), vec![b"two".to_vec()], "{policy:?}");
        }
    }

    #[test]
    fn interval_policy_defers_fsync_until_due() {
        let dir = tempfile::tempdir().unwrap();
        let every = Duration::from_secs(10);
        let mut s = Spool::open_with(dir.path(), 1 << 20, FsyncPolicy::Interval(every)).unwrap();
        // open just synced: the first appends are not due yet.
        s.append(b"a").unwrap();
        s.append(b"b").unwrap();
        assert!(s.data_dirty);
        s.sync_if_due().unwrap();
        assert!(s.data_dirty, "not due yet");
        // An interval later (without waiting one).
        s.last_sync = Instant::now().checked_sub(every).unwrap();
        s.sync_if_due().unwrap();
        assert!(!s.data_dirty && !s.ledger_dirty);
        s.peek().unwrap();
        s.ack().unwrap();
        // (Acknowledging "b" too would empty the segment, and rotation always fsyncs.)
        assert!(s.ledger_dirty, "the ack renamed the ledger without fsync");
        s.sync().unwrap();
        assert!(!s.ledger_dirty);
        assert_eq!(read_ledger(dir.path()), Some((0, 9)));
    }
}
