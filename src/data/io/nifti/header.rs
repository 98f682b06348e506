//! The 348-byte NIfTI-1 header: the fields voxflow uses, parsed in either byte order and
//! encoded back (the layout of `nifti1.h`).

use crate::data::error::{DataError, DataResult};
use std::path::Path;

/// Size of the NIfTI-1 header in bytes (its `sizeof_hdr`).
pub(super) const HEADER_SIZE: usize = 348;
/// `vox_offset` of the files we write: the header plus the 4-byte (empty) extension flag.
pub(super) const VOX_OFFSET: usize = 352;
/// `NIFTI_XFORM_SCANNER_ANAT`: the sform/qform code we write.
pub(super) const XFORM_SCANNER_ANAT: i16 = 1;
/// `NIFTI_UNITS_MM` in `xyzt_units`.
pub(super) const UNITS_MM: u8 = 2;

/// The header fields voxflow reads and writes (the others are written as zeros).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Header {
    /// Byte order of the header and of the voxel values.
    pub big_endian: bool,
    /// `dim[0]` = number of dimensions, `dim[1..=7]` = sizes.
    pub dim: [i16; 8],
    pub intent_code: i16,
    pub datatype: i16,
    pub bitpix: i16,
    /// `pixdim[0]` = qfac, `pixdim[1..=3]` = voxel size.
    pub pixdim: [f32; 8],
    pub vox_offset: f32,
    pub scl_slope: f32,
    pub scl_inter: f32,
    pub xyzt_units: u8,
    pub qform_code: i16,
    pub sform_code: i16,
    /// `quatern_b, quatern_c, quatern_d`.
    pub quatern: [f32; 3],
    /// `qoffset_x, qoffset_y, qoffset_z`.
    pub qoffset: [f32; 3],
    /// `srow_x, srow_y, srow_z`.
    pub srow: [[f32; 4]; 3],
    /// `descrip` (at most 79 bytes are written).
    pub descrip: String,
    /// `magic`: `n+1\0` for a single file.
    pub magic: [u8; 4],
}

/// Field offsets in the header.
mod off {
    pub const DIM: usize = 40;
    pub const INTENT_CODE: usize = 68;
    pub const DATATYPE: usize = 70;
    pub const BITPIX: usize = 72;
    pub const PIXDIM: usize = 76;
    pub const VOX_OFFSET: usize = 108;
    pub const SCL_SLOPE: usize = 112;
    pub const SCL_INTER: usize = 116;
    pub const XYZT_UNITS: usize = 123;
    pub const DESCRIP: usize = 148;
    pub const QFORM_CODE: usize = 252;
    pub const SFORM_CODE: usize = 254;
    pub const QUATERN: usize = 256;
    pub const QOFFSET: usize = 268;
    pub const SROW: usize = 280;
    pub const MAGIC: usize = 344;
}

/// Reads fixed-size fields of one byte order.
struct Fields<'a> {
    b: &'a [u8],
    big: bool,
}

impl Fields<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[at..at + N]);
        if self.big {
            a.reverse();
        }
        a
    }
    fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.bytes(at))
    }
    fn f32(&self, at: usize) -> f32 {
        f32::from_le_bytes(self.bytes(at))
    }
}

/// Byte order from `sizeof_hdr` (the first 4 bytes): `Some(big_endian)` when it reads 348 in
/// one order, or an error naming what it holds.
pub(super) fn byte_order(first4: [u8; 4], path: &Path) -> DataResult<bool> {
    let le = i32::from_le_bytes(first4);
    let be = i32::from_be_bytes(first4);
    if le == HEADER_SIZE as i32 {
        Ok(false)
    } else if be == HEADER_SIZE as i32 {
        Ok(true)
    } else if le == 540 || be == 540 {
        Err(DataError::format(
            path,
            "sizeof_hdr is 540: a NIfTI-2 file, only NIfTI-1 is supported",
        ))
    } else {
        Err(DataError::format(
            path,
            format!(
                "not a NIfTI-1 file: sizeof_hdr is {le} (little-endian) / {be} (big-endian), \
                 not 348"
            ),
        ))
    }
}

impl Header {
    /// Parses the first [`HEADER_SIZE`] bytes of `b`, checking `sizeof_hdr` and the magic.
    pub(super) fn parse(b: &[u8], path: &Path) -> DataResult<Header> {
        if b.len() < HEADER_SIZE {
            return Err(DataError::format(
                path,
                format!(
                    "truncated header: {} bytes, NIfTI-1 needs {HEADER_SIZE}",
                    b.len()
                ),
            ));
        }
        let big = byte_order([b[0], b[1], b[2], b[3]], path)?;
        let f = Fields { b, big };
        let mut magic = [0u8; 4];
        magic.copy_from_slice(&b[off::MAGIC..off::MAGIC + 4]);
        if &magic == b"ni1\0" {
            return Err(DataError::format(
                path,
                "magic 'ni1': the header of a separate .hdr/.img pair; only single-file NIfTI-1 \
                 (.nii, magic 'n+1') is supported",
            ));
        }
        if &magic != b"n+1\0" {
            return Err(DataError::format(
                path,
                format!(
                    "bad magic {:?}: expected \"n+1\" (single-file NIfTI-1)",
                    String::from_utf8_lossy(&magic)
                ),
            ));
        }
        let descrip = &b[off::DESCRIP..off::DESCRIP + 80];
        let end = descrip.iter().position(|&c| c == 0).unwrap_or(80);
        Ok(Header {
            big_endian: big,
            dim: std::array::from_fn(|i| f.i16(off::DIM + 2 * i)),
            intent_code: f.i16(off::INTENT_CODE),
            datatype: f.i16(off::DATATYPE),
            bitpix: f.i16(off::BITPIX),
            pixdim: std::array::from_fn(|i| f.f32(off::PIXDIM + 4 * i)),
            vox_offset: f.f32(off::VOX_OFFSET),
            scl_slope: f.f32(off::SCL_SLOPE),
            scl_inter: f.f32(off::SCL_INTER),
            xyzt_units: b[off::XYZT_UNITS],
            qform_code: f.i16(off::QFORM_CODE),
            sform_code: f.i16(off::SFORM_CODE),
            quatern: std::array::from_fn(|i| f.f32(off::QUATERN + 4 * i)),
            qoffset: std::array::from_fn(|i| f.f32(off::QOFFSET + 4 * i)),
            srow: std::array::from_fn(|r| {
                std::array::from_fn(|c| f.f32(off::SROW + 16 * r + 4 * c))
            }),
            descrip: String::from_utf8_lossy(&descrip[..end]).into_owned(),
            magic,
        })
    }

    /// The header's [`HEADER_SIZE`] bytes in its byte order (`sizeof_hdr` = 348, `regular` =
    /// 'r', unlisted fields zero).
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_SIZE];
        let big = self.big_endian;
        let mut put = |at: usize, mut v: Vec<u8>| {
            if big {
                v.reverse();
            }
            b[at..at + v.len()].copy_from_slice(&v);
        };
        put(0, (HEADER_SIZE as i32).to_le_bytes().to_vec());
        for (i, d) in self.dim.iter().enumerate() {
            put(off::DIM + 2 * i, d.to_le_bytes().to_vec());
        }
        put(off::INTENT_CODE, self.intent_code.to_le_bytes().to_vec());
        put(off::DATATYPE, self.datatype.to_le_bytes().to_vec());
        put(off::BITPIX, self.bitpix.to_le_bytes().to_vec());
        for (i, p) in self.pixdim.iter().enumerate() {
            put(off::PIXDIM + 4 * i, p.to_le_bytes().to_vec());
        }
        put(off::VOX_OFFSET, self.vox_offset.to_le_bytes().to_vec());
        put(off::SCL_SLOPE, self.scl_slope.to_le_bytes().to_vec());
        put(off::SCL_INTER, self.scl_inter.to_le_bytes().to_vec());
        put(off::QFORM_CODE, self.qform_code.to_le_bytes().to_vec());
        put(off::SFORM_CODE, self.sform_code.to_le_bytes().to_vec());
        for i in 0..3 {
            put(off::QUATERN + 4 * i, self.quatern[i].to_le_bytes().to_vec());
            put(off::QOFFSET + 4 * i, self.qoffset[i].to_le_bytes().to_vec());
        }
        for (r, row) in self.srow.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                put(off::SROW + 16 * r + 4 * c, v.to_le_bytes().to_vec());
            }
        }
        b[38] = b'r';
        b[off::XYZT_UNITS] = self.xyzt_units;
        let text = self.descrip.as_bytes();
        let n = text.len().min(79);
        b[off::DESCRIP..off::DESCRIP + n].copy_from_slice(&text[..n]);
        b[off::MAGIC..off::MAGIC + 4].copy_from_slice(&self.magic);
        b
    }
}
