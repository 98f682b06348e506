//! MetaImage (`.mhd` header + `.raw`/`.zraw` data, or one `.mha` file): element types and the
//! writer. The reader is in `read.rs`.

mod header;
mod keys;
mod payload;
mod read;
#[cfg(test)]
mod tests;
pub use read::{data_file, read};

use crate::data::error::{DataError, DataResult};
use crate::data::io::atomic_write;
use crate::data::volume::Volume;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use std::io::Write;
use std::path::Path;

/// The scalar `MET_*` element types and their sizes in bytes (MetaIO: `MET_LONG` and
/// `MET_ULONG` are 4 bytes, `MET_LONG_LONG`/`MET_ULONG_LONG` 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementType {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl ElementType {
    /// Every scalar type.
    pub const ALL: [ElementType; 10] = [
        ElementType::I8,
        ElementType::U8,
        ElementType::I16,
        ElementType::U16,
        ElementType::I32,
        ElementType::U32,
        ElementType::I64,
        ElementType::U64,
        ElementType::F32,
        ElementType::F64,
    ];

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            ElementType::I8 | ElementType::U8 => 1,
            ElementType::I16 | ElementType::U16 => 2,
            ElementType::I32 | ElementType::U32 | ElementType::F32 => 4,
            ElementType::I64 | ElementType::U64 | ElementType::F64 => 8,
        }
    }

    /// The canonical `MET_*` name written in headers.
    pub fn met_name(self) -> &'static str {
        match self {
            ElementType::I8 => "MET_CHAR",
            ElementType::U8 => "MET_UCHAR",
            ElementType::I16 => "MET_SHORT",
            ElementType::U16 => "MET_USHORT",
            ElementType::I32 => "MET_INT",
            ElementType::U32 => "MET_UINT",
            ElementType::I64 => "MET_LONG_LONG",
            ElementType::U64 => "MET_ULONG_LONG",
            ElementType::F32 => "MET_FLOAT",
            ElementType::F64 => "MET_DOUBLE",
        }
    }

    /// Little-endian bytes of `v` in this type (integers rounded and clamped to the range).
    pub fn encode_le(self, v: f32, out: &mut Vec<u8>) {
        let r = v.round() as f64;
        match self {
            ElementType::I8 => out.extend_from_slice(&(r.clamp(-128.0, 127.0) as i8).to_le_bytes()),
            ElementType::U8 => out.push(r.clamp(0.0, 255.0) as u8),
            ElementType::I16 => {
                out.extend_from_slice(&(r.clamp(-32768.0, 32767.0) as i16).to_le_bytes())
            }
            ElementType::U16 => {
                out.extend_from_slice(&(r.clamp(0.0, 65535.0) as u16).to_le_bytes())
            }
            ElementType::I32 => out.extend_from_slice(&(r as i32).to_le_bytes()),
            ElementType::U32 => out.extend_from_slice(&(r.max(0.0) as u32).to_le_bytes()),
            ElementType::I64 => out.extend_from_slice(&(r as i64).to_le_bytes()),
            ElementType::U64 => out.extend_from_slice(&(r.max(0.0) as u64).to_le_bytes()),
            ElementType::F32 => out.extend_from_slice(&v.to_le_bytes()),
            ElementType::F64 => out.extend_from_slice(&(v as f64).to_le_bytes()),
        }
    }
}

fn join(v: impl IntoIterator<Item = String>) -> String {
    v.into_iter().collect::<Vec<_>>().join(" ")
}

/// Writes `vol` as `path` (a `.mhd` header) plus its data file beside it: `<stem>.zraw`
/// (zlib, `CompressedData = True`) when `compressed`, else `<stem>.raw`; little-endian values of
/// type `ty`. Each file is written to a temporary name and renamed, so a crash never leaves a
/// half-written file under the final name.
pub fn write(path: &Path, vol: &Volume, ty: ElementType, compressed: bool) -> DataResult<()> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| DataError::format(path, "not a file name"))?;
    let data_name = format!("{stem}.{}", if compressed { "zraw" } else { "raw" });
    let mut raw = Vec::with_capacity(vol.len() * ty.size());
    for &v in &vol.data {
        ty.encode_le(v, &mut raw);
    }
    let payload = if compressed {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::new(6));
        z.write_all(&raw).map_err(|e| DataError::io(path, e))?;
        z.finish().map_err(|e| DataError::io(path, e))?
    } else {
        raw
    };
    let [d, h, w] = vol.dims;
    let mut header = String::new();
    header += "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n";
    header += &format!(
        "CompressedData = {}\n",
        if compressed { "True" } else { "False" }
    );
    if compressed {
        header += &format!("CompressedDataSize = {}\n", payload.len());
    }
    let dir = join(vol.direction.iter().flatten().map(|v| format!("{v}")));
    header += &format!("TransformMatrix = {dir}\n");
    header += &format!(
        "Offset = {}\n",
        join(vol.origin.iter().map(|v| format!("{v}")))
    );
    header += "CenterOfRotation = 0 0 0\n";
    header += &format!(
        "ElementSpacing = {}\n",
        join(vol.spacing.iter().map(|v| format!("{v}")))
    );
    header += &format!("DimSize = {w} {h} {d}\n");
    header += &format!("ElementType = {}\n", ty.met_name());
    header += &format!("ElementDataFile = {data_name}\n");
    atomic_write(&path.with_file_name(&data_name), &payload)?;
    atomic_write(path, header.as_bytes())
}
