//! TFRecord framing of an event file. Each record is
//! `u64 length (LE) | u32 masked CRC-32C of those 8 bytes | data | u32 masked CRC-32C of data`,
//! where `mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8` (wrapping).

use crate::report::ReportError;
use std::path::Path;

const MASK_DELTA: u32 = 0xa282_ead8;

/// The masked CRC-32C (Castagnoli) of `data`, as TFRecord stores it.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Appends one framed record holding `data` to `out`.
pub(crate) fn frame(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

/// Splits the content of an event file into the data of its records, checking both CRCs of
/// every record. Errors name `path` and the index of the first bad record.
pub(crate) fn split_records<'a>(
    path: &Path,
    bytes: &'a [u8],
) -> Result<Vec<&'a [u8]>, ReportError> {
    let (records, bad) = split_prefix(path, bytes);
    match bad {
        Some(bad) => Err(bad.error),
        None => Ok(records),
    }
}

/// Where [`split_prefix`] stopped.
pub(crate) struct BadRecord {
    pub error: ReportError,
    /// The record runs past the end of the file (a write cut short), rather than failing a
    /// CRC check.
    pub truncated: bool,
}

/// The intact records of an event file up to the first bad one, and what was wrong with it.
pub(crate) fn split_prefix<'a>(path: &Path, bytes: &'a [u8]) -> (Vec<&'a [u8]>, Option<BadRecord>) {
    let corrupt = |record: usize, msg: String| ReportError::Corrupt {
        path: path.to_path_buf(),
        record,
        msg,
    };
    // A record cut short, or running into zeros that fill the file to its end (a crash's
    // unwritten tail, filled by the file system), is torn; anything else failing a check is
    // corrupt.
    let zero_tail = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
    let bad = |record: usize, at: usize, msg: String, truncated: bool| BadRecord {
        error: corrupt(record, msg),
        truncated: truncated || (zero_tail >= at && bytes.len() - zero_tail >= 8),
    };
    let mut records = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let index = records.len();
        let rest = bytes.len() - pos;
        if rest < 12 {
            let msg =
                format!("truncated: {rest} bytes left at offset {pos}, a record header needs 12");
            return (records, Some(bad(index, pos, msg, true)));
        }
        let len_bytes = &bytes[pos..pos + 8];
        let stored = u32_at(bytes, pos + 8);
        let computed = masked_crc32c(len_bytes);
        if stored != computed {
            let msg = format!(
                "length CRC mismatch at offset {pos} (stored {stored:#010x}, computed {computed:#010x})"
            );
            return (records, Some(bad(index, pos, msg, false)));
        }
        let mut lb = [0u8; 8];
        lb.copy_from_slice(len_bytes);
        let len = u64::from_le_bytes(lb);
        let start = pos + 12;
        let avail = (bytes.len() - start) as u64;
        if len.saturating_add(4) > avail {
            let msg = format!(
                "truncated: the record holds {len} bytes of data plus a 4-byte CRC, only {avail} bytes left at offset {start}"
            );
            return (records, Some(bad(index, pos, msg, true)));
        }
        let end = start + len as usize;
        let data = &bytes[start..end];
        let stored = u32_at(bytes, end);
        let computed = masked_crc32c(data);
        if stored != computed {
            let msg = format!(
                "data CRC mismatch at offset {start} (stored {stored:#010x}, computed {computed:#010x})"
            );
            return (records, Some(bad(index, pos, msg, false)));
        }
        records.push(data);
        pos = end + 4;
    }
    (records, None)
}
