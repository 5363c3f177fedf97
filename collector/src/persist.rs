//! Template persistence: save template and sampler state to a file and load it at start, so that a
//! restarted collector decodes data at once instead of waiting for the next template refresh.
//!
//! Format: one JSON document ([`Snapshot`], `format` = [`FORMAT`]). Writes are atomic: the snapshot
//! goes to `PATH.tmp`, is fsynced, then renamed over `PATH`.
//!
//! Owns: the snapshot types and their file I/O. Must never: know about the decoder. The dependency
//! runs one way: the decoder builds a [`Snapshot`] (`Decoder::snapshot`) and loads one
//! (`Decoder::restore`, which puts templates through the same validation and compilation as
//! templates from the wire); callers move it to and from disk with [`write`] and [`load`]. This
//! module does file I/O; the decoder itself never does.

use std::fs;
use std::io::Write;
use std::net::Ipv6Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::template::FieldSpec;

/// The snapshot format version this build writes and reads.
pub const FORMAT: u32 = 1;

/// Everything needed to decode data after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version, [`FORMAT`].
    pub format: u32,
    /// Templates by scope.
    pub templates: Vec<SavedTemplate>,
    /// Sampler rates learned from options data.
    pub samplers: Vec<SavedSampler>,
    /// systemInitTimeMilliseconds by scope: (exporter, domain, version, ms).
    pub system_init: Vec<(Ipv6Addr, u32, u16, i64)>,
}

/// One saved template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedTemplate {
    /// Exporter address (IPv4-mapped when IPv4).
    pub exporter: Ipv6Addr,
    /// Observation domain / source id.
    pub domain: u32,
    /// Protocol version (9 or 10).
    pub version: u16,
    /// Template id.
    pub id: u16,
    /// For options templates, the number of scope fields; `None` for data templates.
    pub scope_fields: Option<usize>,
    /// Field specifiers as the exporter sent them.
    pub fields: Vec<FieldSpec>,
    /// When it was learned, Unix ms (the TTL keeps running across restarts).
    pub learned_at: i64,
}

/// One saved sampler rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSampler {
    /// Exporter address.
    pub exporter: Ipv6Addr,
    /// Observation domain / source id.
    pub domain: u32,
    /// Protocol version.
    pub version: u16,
    /// Sampler id, or `None` for the scope-wide rate.
    pub sampler: Option<u32>,
    /// Rate (1 in N).
    pub rate: u32,
}

/// Why a snapshot could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file could not be read or written.
    #[error("template state file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a snapshot this build understands.
    #[error("template state file {path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Write a snapshot (one decoder's `Decoder::snapshot`, or several decoders' merged) to `path`
/// atomically: to `PATH.tmp`, fsync, rename over `PATH`.
pub fn write(snap: &Snapshot, path: &Path) -> Result<(), PersistError> {
    let io = |source| PersistError::Io {
        path: path.display().to_string(),
        source,
    };
    let json = serde_json::to_vec(snap).map_err(|e| PersistError::Format {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(&json).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

/// Read a snapshot from `path`. A missing file is `Ok(None)`: there is nothing to restore.
pub fn load(path: &Path) -> Result<Option<Snapshot>, PersistError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| PersistError::Format {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if snap.format != FORMAT {
        return Err(PersistError::Format {
            path: path.display().to_string(),
            reason: format!("format {} is not {FORMAT}", snap.format),
        });
    }
    Ok(Some(snap))
}
