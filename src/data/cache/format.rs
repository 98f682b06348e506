//! The cache file layout (see the table in the parent module): encoding and validation.

use super::Kind;
use crate::data::error::{DataError, DataResult};
use crate::data::preprocess::PREPROCESS_VERSION;
use std::io::Read;
use std::path::Path;

/// First bytes of every cache file.
pub const MAGIC: [u8; 8] = *b"VXFCACHE";
/// Version of the cache file layout.
pub const FORMAT_VERSION: u32 = 2;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 52;

/// Result of reading an entry.
pub(super) enum Lookup {
    Hit(Vec<f32>),
    Missing,
    Stale(String),
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// The file bytes of an entry.
pub(super) fn encode(kind: Kind, grid: [usize; 3], source: u64, values: &[f32]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(values.len() * 4);
    for v in values {
        payload.extend_from_slice(&v.to_le_bytes());
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&PREPROCESS_VERSION.to_le_bytes());
    out.extend_from_slice(&kind.code().to_le_bytes());
    for d in grid {
        out.extend_from_slice(&(d as u32).to_le_bytes());
    }
    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
    out.extend_from_slice(&source.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Reads and validates an entry. The file size is checked against the request before the
/// payload is read, so a damaged header can never make us allocate more than was asked for.
pub(super) fn read_entry(
    path: &Path,
    kind: Kind,
    grid: [usize; 3],
    source: u64,
    count: usize,
) -> DataResult<Lookup> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lookup::Missing),
        Err(e) => return Err(DataError::io(path, e)),
    };
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let want = (HEADER_LEN + 4 * count) as u64;
    if len != want {
        return Ok(Lookup::Stale(format!(
            "{len} bytes, expected {want} for the grid {grid:?}"
        )));
    }
    let mut bytes = Vec::with_capacity(want as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| DataError::io(path, e))?;
    if bytes.len() as u64 != want {
        return Ok(Lookup::Stale(format!(
            "read {} bytes, expected {want}",
            bytes.len()
        )));
    }
    let (head, payload) = bytes.split_at(HEADER_LEN);
    if head[..8] != MAGIC {
        return Ok(Lookup::Stale(
            "not a voxflow cache file (wrong magic)".into(),
        ));
    }
    let checks = [
        ("format version", read_u32(head, 8), FORMAT_VERSION),
        (
            "preprocessing version",
            read_u32(head, 12),
            PREPROCESS_VERSION,
        ),
        ("kind", read_u32(head, 16), kind.code()),
        ("grid D", read_u32(head, 20), grid[0] as u32),
        ("grid H", read_u32(head, 24), grid[1] as u32),
        ("grid W", read_u32(head, 28), grid[2] as u32),
    ];
    for (what, got, expected) in checks {
        if got != expected {
            return Ok(Lookup::Stale(format!("{what} {got}, expected {expected}")));
        }
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&head[32..40]);
    let stored_count = u64::from_le_bytes(n);
    if stored_count != count as u64 {
        return Ok(Lookup::Stale(format!(
            "value count {stored_count}, expected {count}"
        )));
    }
    n.copy_from_slice(&head[40..48]);
    let stored_source = u64::from_le_bytes(n);
    if stored_source != source {
        return Ok(Lookup::Stale(format!(
            "the scan's files changed since it was built (fingerprint {source:016x}, stored \
             {stored_source:016x})"
        )));
    }
    let (stored, actual) = (read_u32(head, 48), crc32c::crc32c(payload));
    if stored != actual {
        return Ok(Lookup::Stale(format!(
            "payload CRC-32C {actual:08x} does not match the stored {stored:08x}"
        )));
    }
    let values: Vec<f32> = payload
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // Preprocessing never produces these (it refuses scans holding them): an entry written by
    // something else, whose checksum was made to match.
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Ok(Lookup::Stale(format!(
            "value {i} is {}, which preprocessing never produces",
            values[i]
        )));
    }
    Ok(Lookup::Hit(values))
}
