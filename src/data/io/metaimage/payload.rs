//! MetaImage pixel data: finds it in the data file (`HeaderSize`, `LOCAL`, data at the end),
//! checks the sizes the header declares against the real file *before* allocating, inflates
//! `CompressedData` (zlib, or gzip) with a hard cap at the expected size, and converts the
//! values (either byte order) to `f32`.
//!
//! Sizes must agree exactly: an uncompressed data region must hold `DimSize` product × element
//! size bytes, no fewer and no more (trailing bytes mean the header does not describe the
//! file); compressed data must inflate to exactly that many bytes.

use super::ElementType;
use super::header::{DataFile, Header, Skip};
use crate::data::error::{DataError, DataResult};
use flate2::read::{GzDecoder, ZlibDecoder};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The most a deflate stream can expand (1032:1), plus room for zlib/gzip framing.
const MAX_INFLATE_RATIO: u64 = 1032;
const FRAMING: u64 = 64;

/// The data file being read, for error messages naming it (and the header, if separate).
struct Source<'a> {
    header: &'a Path,
    data: &'a Path,
    local: bool,
}

impl Source<'_> {
    fn err(&self, msg: impl Into<String>) -> DataError {
        let msg = msg.into();
        if self.local {
            DataError::format(self.data, msg)
        } else {
            DataError::format(
                self.data,
                format!("{msg} (data file of {})", self.header.display()),
            )
        }
    }

    fn io(&self, e: std::io::Error) -> DataError {
        self.err(format!("read failed: {e}"))
    }
}

/// Reads the voxel values described by `h` (the header of `header_path`), in file order.
pub(super) fn read_values(header_path: &Path, h: &Header) -> DataResult<Vec<f32>> {
    let data_path = match &h.data_file {
        DataFile::Local => header_path,
        DataFile::Path(p) => p.as_path(),
    };
    let src = Source {
        header: header_path,
        data: data_path,
        local: h.data_file == DataFile::Local,
    };
    let meta = std::fs::metadata(data_path).map_err(|e| {
        DataError::format(
            header_path,
            format!(
                "cannot open its data file {} (ElementDataFile = {}): {e}",
                data_path.display(),
                h.data_file_name
            ),
        )
    })?;
    if !meta.is_file() {
        return Err(src.err("is not a regular file"));
    }
    let mut file = File::open(data_path).map_err(|e| DataError::io(data_path, e))?;
    let file_len = meta.len();
    let raw = if h.compressed {
        let (start, len) = compressed_region(&src, h, file_len)?;
        let packed = read_region(&src, &mut file, start, len)?;
        inflate(&src, h, &packed)?
    } else {
        let start = raw_start(&src, h, file_len)?;
        read_region(&src, &mut file, start, h.data_bytes)?
    };
    Ok(decode(&raw, h.element, h.big_endian))
}

/// The first data byte for `Skip::Default` / `Skip::Bytes` (not `AtEnd`).
fn start_offset(src: &Source, h: &Header) -> DataResult<u64> {
    match (h.skip, src.local) {
        (Skip::Bytes(n), true) if n < h.text_len => Err(src.err(format!(
            "HeaderSize = {n} points inside the header text, which ends at byte {}",
            h.text_len
        ))),
        (Skip::Bytes(n), _) => Ok(n),
        (_, true) => Ok(h.text_len),
        (_, false) => Ok(0),
    }
}

/// Where uncompressed data starts; checks that exactly `h.data_bytes` follow.
fn raw_start(src: &Source, h: &Header, file_len: u64) -> DataResult<u64> {
    let need = h.data_bytes;
    let what = format!(
        "{need} bytes of data (DimSize {} × {} bytes of {})",
        dims_text(&h.dim_size),
        h.element.size(),
        h.element.met_name()
    );
    let start = if h.skip == Skip::AtEnd {
        let floor = if src.local { h.text_len } else { 0 };
        match file_len.checked_sub(need) {
            Some(s) if s >= floor => s,
            _ => {
                return Err(src.err(format!(
                    "truncated: the header declares {what} at the end of the file \
                     (HeaderSize = -1), but the file has only {} bytes after byte {floor}",
                    file_len.saturating_sub(floor)
                )));
            }
        }
    } else {
        start_offset(src, h)?
    };
    let avail = file_len.saturating_sub(start);
    if avail < need {
        return Err(src.err(format!(
            "truncated: the header declares {what} from byte {start}, \
             but the file has only {avail} bytes there"
        )));
    }
    if avail > need {
        return Err(src.err(format!(
            "the header declares {what} from byte {start}, but the file has {avail} bytes \
             there ({} too many: DimSize, ElementType or HeaderSize disagree with the file)",
            avail - need
        )));
    }
    Ok(start)
}

/// Where the compressed stream starts and how long it is.
fn compressed_region(src: &Source, h: &Header, file_len: u64) -> DataResult<(u64, u64)> {
    if h.skip == Skip::AtEnd {
        let Some(n) = h.compressed_size else {
            return Err(src.err("HeaderSize = -1 with compressed data needs CompressedDataSize"));
        };
        let floor = if src.local { h.text_len } else { 0 };
        return match file_len.checked_sub(n) {
            Some(s) if s >= floor => Ok((s, n)),
            _ => Err(src.err(format!(
                "truncated: CompressedDataSize = {n} at the end of the file, but the file has \
                 only {} bytes after byte {floor}",
                file_len.saturating_sub(floor)
            ))),
        };
    }
    let start = start_offset(src, h)?;
    let avail = file_len.saturating_sub(start);
    let len = match h.compressed_size {
        Some(n) if n > avail => {
            return Err(src.err(format!(
                "truncated: CompressedDataSize = {n} from byte {start}, but the file has only \
                 {avail} bytes there"
            )));
        }
        Some(n) if n < avail => {
            return Err(src.err(format!(
                "CompressedDataSize = {n} from byte {start}, but the file has {avail} bytes \
                 there ({} too many)",
                avail - n
            )));
        }
        _ => avail,
    };
    if len == 0 {
        return Err(src.err(format!("truncated: no compressed data from byte {start}")));
    }
    Ok((start, len))
}

/// Reads `len` bytes at `start` (the caller checked that the file holds them).
fn read_region(src: &Source, file: &mut File, start: u64, len: u64) -> DataResult<Vec<u8>> {
    let n = usize::try_from(len)
        .map_err(|_| src.err(format!("{len} bytes of data do not fit in memory")))?;
    file.seek(SeekFrom::Start(start)).map_err(|e| src.io(e))?;
    let mut buf = vec![0u8; n];
    file.read_exact(&mut buf).map_err(|e| src.io(e))?;
    Ok(buf)
}

/// Inflates `packed` (zlib, or gzip by its magic bytes) to exactly `h.data_bytes` bytes.
fn inflate(src: &Source, h: &Header, packed: &[u8]) -> DataResult<Vec<u8>> {
    let need = h.data_bytes;
    let most = (packed.len() as u64)
        .saturating_mul(MAX_INFLATE_RATIO)
        .saturating_add(FRAMING);
    if need > most {
        return Err(src.err(format!(
            "{} bytes of compressed data cannot inflate to the {need} bytes the header \
             declares (DimSize {}, {})",
            packed.len(),
            dims_text(&h.dim_size),
            h.element.met_name()
        )));
    }
    let reader: Box<dyn Read + '_> = if packed.starts_with(&[0x1f, 0x8b]) {
        Box::new(GzDecoder::new(packed))
    } else {
        Box::new(ZlibDecoder::new(packed))
    };
    let mut out = Vec::new();
    reader
        .take(need.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| src.err(format!("corrupt compressed data: {e}")))?;
    let got = out.len() as u64;
    if got < need {
        return Err(src.err(format!(
            "compressed data inflates to only {got} bytes; the header declares {need}"
        )));
    }
    if got > need {
        return Err(src.err(format!(
            "compressed data inflates to more than the {need} bytes the header declares"
        )));
    }
    Ok(out)
}

fn dims_text(d: &[usize]) -> String {
    d.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

/// Converts raw element bytes (whole elements only) to `f32`.
pub(super) fn decode(raw: &[u8], ty: ElementType, big_endian: bool) -> Vec<f32> {
    fn conv<const N: usize>(raw: &[u8], be: bool, f: impl Fn([u8; N], bool) -> f32) -> Vec<f32> {
        raw.chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a, be)
            })
            .collect()
    }
    macro_rules! num {
        ($t:ty) => {
            |a, be| {
                if be {
                    <$t>::from_be_bytes(a) as f32
                } else {
                    <$t>::from_le_bytes(a) as f32
                }
            }
        };
    }
    match ty {
        ElementType::I8 => raw.iter().map(|&b| b as i8 as f32).collect(),
        ElementType::U8 => raw.iter().map(|&b| b as f32).collect(),
        ElementType::I16 => conv::<2>(raw, big_endian, num!(i16)),
        ElementType::U16 => conv::<2>(raw, big_endian, num!(u16)),
        ElementType::I32 => conv::<4>(raw, big_endian, num!(i32)),
        ElementType::U32 => conv::<4>(raw, big_endian, num!(u32)),
        ElementType::I64 => conv::<8>(raw, big_endian, num!(i64)),
        ElementType::U64 => conv::<8>(raw, big_endian, num!(u64)),
        ElementType::F32 => conv::<4>(raw, big_endian, num!(f32)),
        ElementType::F64 => conv::<8>(raw, big_endian, num!(f64)),
    }
}
