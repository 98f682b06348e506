//! MetaImage header text: reads at most [`MAX_HEADER`] bytes, splits `key = value` lines up to
//! `ElementDataFile` (the last key; a `.mha`'s binary data follows it), and validates the keys
//! the reader uses into a [`Header`] (in `keys.rs`). Unknown keys are ignored; every error
//! names the header file and the problem. Geometry is interpreted in `read.rs`.

use super::ElementType;
use super::keys::{self, Keys, snippet};
use crate::data::error::{DataError, DataResult};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The most header text read: a MetaImage header is a few hundred bytes.
pub(super) const MAX_HEADER: u64 = 64 * 1024;

/// Where the data starts, from `HeaderSize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Skip {
    /// No `HeaderSize` (or 0): right after the text header for `LOCAL`, else byte 0.
    Default,
    /// `HeaderSize = n > 0`: the data starts at byte `n` of the data file.
    Bytes(u64),
    /// `HeaderSize = -1`: the data occupies the end of the data file.
    AtEnd,
}

/// Where the data is, from `ElementDataFile`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum DataFile {
    /// `LOCAL`: in the header file, after the header text.
    Local,
    /// A separate file (relative names already joined to the header's directory).
    Path(PathBuf),
}

/// The validated keys of a MetaImage header.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Header {
    /// `NDims` (2 or 3).
    pub ndims: usize,
    /// `DimSize`, image-axis order (x, y[, z]); every entry positive.
    pub dim_size: Vec<usize>,
    /// `voxels × element size` (no overflow).
    pub data_bytes: u64,
    /// `ElementSpacing` (or `ElementSize`), finite and positive; ones when absent.
    pub spacing: Vec<f64>,
    /// `Offset` (or `Origin`, `Position`), finite; zeros when absent.
    pub offset: Vec<f64>,
    /// `TransformMatrix` (or `Rotation`, `Orientation`), `ndims²` finite numbers; identity when
    /// absent. Consecutive runs of `ndims` numbers are the directions of the image axes.
    pub matrix: Vec<f64>,
    /// `ElementType`.
    pub element: ElementType,
    /// `BinaryDataByteOrderMSB` / `ElementByteOrderMSB`.
    pub big_endian: bool,
    /// `CompressedData`.
    pub compressed: bool,
    /// `CompressedDataSize`, when given.
    pub compressed_size: Option<u64>,
    /// `HeaderSize`.
    pub skip: Skip,
    /// `ElementDataFile`.
    pub data_file: DataFile,
    /// The raw `ElementDataFile` value, for messages.
    pub data_file_name: String,
    /// Bytes of header text, including the `ElementDataFile` line and its newline.
    pub text_len: u64,
}

/// Reads and validates the header of `path`.
pub(super) fn read_header(path: &Path) -> DataResult<Header> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if !meta.is_file() {
        return Err(DataError::format(path, "not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut prefix = Vec::new();
    file.take(MAX_HEADER)
        .read_to_end(&mut prefix)
        .map_err(|e| DataError::io(path, e))?;
    let truncated = meta.len() > prefix.len() as u64;
    let (lines, text_len) = split_lines(path, &prefix, truncated)?;
    let keys = Keys { path, lines };
    keys::parse(&keys, text_len)
}

/// One `key = value` line.
pub(super) struct Line {
    /// 1-based line number.
    pub no: usize,
    /// Trimmed key.
    pub key: String,
    /// Trimmed value.
    pub value: String,
}

/// Splits the header text into `key = value` lines, stopping after `ElementDataFile`; returns
/// them and the byte length of the text (through that line's newline).
fn split_lines(path: &Path, bytes: &[u8], truncated: bool) -> DataResult<(Vec<Line>, u64)> {
    let mut lines = Vec::new();
    // A UTF-8 byte-order mark (some editors add one) is not part of the first key.
    let mut pos = if bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut no = 0usize;
    while pos < bytes.len() {
        no += 1;
        let (line, next) = match bytes[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => (&bytes[pos..pos + i], pos + i + 1),
            None if truncated => {
                return Err(DataError::format(
                    path,
                    format!(
                        "no ElementDataFile line in the first {MAX_HEADER} bytes \
                         (not a MetaImage header, or header too large)"
                    ),
                ));
            }
            None => (&bytes[pos..], bytes.len()),
        };
        pos = next;
        let text = std::str::from_utf8(line).map_err(|_| {
            let msg = match line.starts_with(b"ElementDataFile") {
                true => format!(
                    "header line {no} (ElementDataFile) runs into binary data: the line must \
                     end with a newline before the data"
                ),
                false => format!("header line {no} is not UTF-8 text"),
            };
            DataError::format(path, msg)
        })?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let Some((key, value)) = text.split_once('=') else {
            return Err(DataError::format(
                path,
                format!("header line {no} is not `key = value`: {:?}", snippet(text)),
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(DataError::format(
                path,
                format!("header line {no} has no key"),
            ));
        }
        let done = key == "ElementDataFile";
        lines.push(Line {
            no,
            key: key.to_string(),
            value: value.trim().to_string(),
        });
        if done {
            return Ok((lines, pos as u64));
        }
    }
    if truncated {
        return Err(DataError::format(
            path,
            format!("no ElementDataFile line in the first {MAX_HEADER} bytes (header too large)"),
        ));
    }
    Err(DataError::format(
        path,
        "header has no ElementDataFile line",
    ))
}
