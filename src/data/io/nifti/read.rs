//! NIfTI-1 reader: header checks, capped (optionally gzip) streaming of the data, value
//! decoding in either byte order with `scl_slope`/`scl_inter`, and the geometry.

use super::affine::{Geometry, geometry_from_ras, ras_affine};
use super::header::{HEADER_SIZE, Header, byte_order};
use super::{datatype_name, element_type};
use crate::data::error::{DataError, DataResult};
use crate::data::io::metaimage::ElementType;
use crate::data::volume::Volume;
use flate2::bufread::GzDecoder;
use std::io::{BufRead, BufReader, Chain, Cursor, Read};
use std::path::Path;

/// Reads a scalar 3D NIfTI-1 volume from a `.nii` or `.nii.gz` file (gzip is recognised by its
/// content), converting its RAS affine to the LPS geometry of [`Volume`]. See the module doc
/// for the rules; every problem is a [`DataError`] naming the file.
pub fn read(path: &Path) -> DataResult<Volume> {
    let (img, geometry) = read_image(path, Shape::Scalar)?;
    Ok(volume(img.dims, img.values, geometry))
}

/// Reads a vector image as written by [`super::write_vector`] (`dim = [5, X, Y, Z, 1, C]`, or
/// a scalar 3D image as one component): one [`Volume`] per component, all with the file's
/// geometry. Vector values are returned as stored (no change of frame).
pub fn read_vector(path: &Path) -> DataResult<Vec<Volume>> {
    let (img, g) = read_image(path, Shape::Vector)?;
    let n = img.dims.iter().product::<usize>();
    let comps = img.values.len().checked_div(n).unwrap_or(0);
    Ok((0..comps)
        .map(|c| volume(img.dims, img.values[c * n..(c + 1) * n].to_vec(), g))
        .collect())
}

fn volume(dims: [usize; 3], data: Vec<f32>, g: Geometry) -> Volume {
    Volume {
        data,
        dims,
        spacing: g.spacing,
        origin: g.origin,
        direction: g.direction,
    }
}

/// Which images a read accepts beyond the three spatial dimensions.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Shape {
    /// `dim[4..=dim[0]]` all 1.
    Scalar,
    /// `dim[4]` = 1, any number of components in `dim[5]` (`dim[0]` ≤ 5).
    Vector,
}

/// A decoded image: array dims `[D, H, W]` and all values (components one after the other,
/// each x-fastest).
pub(super) struct Image {
    pub dims: [usize; 3],
    pub values: Vec<f32>,
}

/// Opens `path` and decodes it, inflating gzip content on the fly.
pub(super) fn read_image(path: &Path, shape: Shape) -> DataResult<(Image, Geometry)> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut r = BufReader::new(file);
    let head = r.fill_buf().map_err(|e| DataError::io(path, e))?;
    let is_gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if named_gz && !is_gzip {
        return Err(DataError::format(
            path,
            "named .gz but is not gzip data (no 1f 8b magic)",
        ));
    }
    if is_gzip {
        decode(path, &mut GzMembers::new(r), None, shape)
    } else {
        decode(path, &mut r, Some(len), shape)
    }
}

/// The gzip members of a file in sequence, as `gzip -d` reads them: each member's trailer
/// (CRC-32 and length) is checked as it ends, and another member starts only where the gzip
/// magic follows; anything else after a member (zero padding, say) ends the stream.
pub(super) struct GzMembers<R: BufRead> {
    state: Members<R>,
}

enum Members<R: BufRead> {
    /// Inside a member, read over the bytes already taken to look for it and the rest.
    In(Box<GzDecoder<Chain<Cursor<Vec<u8>>, R>>>),
    /// After a member: the bytes read so far to see whether another one starts, and the rest
    /// (kept across an error, so a retried read goes on where it stopped).
    Between(Vec<u8>, R),
    Done,
}

impl<R: BufRead> GzMembers<R> {
    pub(super) fn new(r: R) -> Self {
        GzMembers {
            state: Members::In(Box::new(GzDecoder::new(Cursor::new(Vec::new()).chain(r)))),
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match &mut self.state {
                Members::Done => return Ok(0),
                Members::In(member) => {
                    let n = member.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        return Ok(n);
                    }
                    let Members::In(member) = std::mem::replace(&mut self.state, Members::Done)
                    else {
                        unreachable!("matched above")
                    };
                    let (ahead, rest) = member.into_inner().into_inner();
                    let at = ahead.position() as usize;
                    self.state = Members::Between(ahead.into_inner().split_off(at), rest);
                }
                Members::Between(next, rest) => {
                    // Two bytes tell; they may straddle the reader's buffer.
                    while next.len() < 2 {
                        let got = rest.fill_buf()?;
                        if got.is_empty() {
                            break;
                        }
                        let take = got.len().min(2 - next.len());
                        next.extend_from_slice(&got[..take]);
                        rest.consume(take);
                    }
                    let Members::Between(next, rest) =
                        std::mem::replace(&mut self.state, Members::Done)
                    else {
                        unreachable!("matched above")
                    };
                    if next.starts_with(&[0x1f, 0x8b]) {
                        let member = GzDecoder::new(Cursor::new(next).chain(rest));
                        self.state = Members::In(Box::new(member));
                    }
                }
            }
        }
    }
}

/// Reads into `buf` until it is full or the stream ends; returns the number of bytes read.
/// With `gzip`, stream errors are reported as corrupt gzip data.
fn fill(path: &Path, r: &mut dyn Read, buf: &mut [u8], gzip: bool) -> DataResult<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(stream_error(path, e, gzip)),
        }
    }
    Ok(n)
}

fn stream_error(path: &Path, e: std::io::Error, gzip: bool) -> DataError {
    if gzip {
        DataError::format(path, format!("corrupt or truncated gzip data: {e}"))
    } else {
        DataError::io(path, e)
    }
}

/// Where the values are and how many: checked against the header only.
struct Layout {
    dims: [usize; 3],
    /// Volumes (time points × components) after the first three dimensions.
    volumes: u64,
    ty: ElementType,
    offset: u64,
    nbytes: u64,
}

fn layout(h: &Header, path: &Path, shape: Shape) -> DataResult<Layout> {
    let dim = h.dim;
    let nd = dim[0];
    let bad = |msg: String| Err(DataError::format(path, format!("dim = {dim:?}: {msg}")));
    if !(3..=5).contains(&nd) {
        return bad(format!(
            "dim[0] = {nd}; only 3D volumes (or 4D/5D with one volume) are read"
        ));
    }
    if dim[1..=nd as usize].iter().any(|&d| d < 1) {
        return bad("a size is zero or negative".into());
    }
    let extra: u64 = dim[4..=nd as usize].iter().map(|&d| d as u64).product();
    let ok = match shape {
        Shape::Scalar => extra == 1,
        Shape::Vector => nd < 4 || dim[4] == 1,
    };
    if !ok {
        return bad(format!(
            "{extra} volumes/components; only a single scalar 3D volume is read here"
        ));
    }
    let ty = element_type(h.datatype).map_err(|m| DataError::format(path, m))?;
    let v = h.vox_offset;
    if v.is_nan() || v < HEADER_SIZE as f32 || v.fract() != 0.0 || v > 1e15 {
        return Err(DataError::format(
            path,
            format!("vox_offset {v} is not a whole byte offset at or after the 348-byte header"),
        ));
    }
    let dims = [dim[3] as usize, dim[2] as usize, dim[1] as usize];
    let nvox = (dims.iter().map(|&d| d as u64).product::<u64>()).checked_mul(extra);
    let nbytes = nvox.and_then(|n| n.checked_mul(ty.size() as u64));
    let (Some(nbytes), true) = (nbytes, nvox.is_some_and(|n| n <= isize::MAX as u64 / 8)) else {
        return bad("too many voxels".into());
    };
    Ok(Layout {
        dims,
        volumes: extra,
        ty,
        offset: v as u64,
        nbytes,
    })
}

/// Decodes a NIfTI-1 stream. `file_len` (known for uncompressed files) lets the data size be
/// checked before anything is read; without it the stream is read with the size the header
/// implies as a cap, growing the buffer only as data actually arrives.
pub(super) fn decode(
    path: &Path,
    r: &mut dyn Read,
    file_len: Option<u64>,
    shape: Shape,
) -> DataResult<(Image, Geometry)> {
    let gzip = file_len.is_none();
    let what = if gzip { "decompressed data" } else { "file" };
    let mut hb = [0u8; HEADER_SIZE];
    let got = fill(path, r, &mut hb, gzip)?;
    if got >= 4 {
        byte_order([hb[0], hb[1], hb[2], hb[3]], path)?;
    }
    let h = Header::parse(&hb[..got], path)?;
    let lay = layout(&h, path, shape)?;
    let g = geometry_from_ras(&ras_affine(&h, path)?, path)?;
    let slope = h.scl_slope as f64;
    let scale = slope != 0.0 && slope.is_finite();
    if scale && !h.scl_inter.is_finite() {
        return Err(DataError::format(
            path,
            format!("scl_slope {} with scl_inter {}", h.scl_slope, h.scl_inter),
        ));
    }
    let end = lay.offset.checked_add(lay.nbytes);
    let truncated = |have: u64| {
        let [d, h, w] = lay.dims;
        let n = lay.volumes;
        let times = if n > 1 {
            format!(" x {n} volumes of")
        } else {
            String::new()
        };
        DataError::format(
            path,
            format!(
                "truncated data: {w}x{h}x{d}{times} {} voxels need {} bytes from offset {}, the \
                 {what} ends at byte {have}",
                datatype_name(lay.ty),
                lay.nbytes,
                lay.offset
            ),
        )
    };
    if let Some(len) = file_len {
        if lay.offset > len {
            return Err(DataError::format(
                path,
                format!(
                    "vox_offset {} lies beyond the end of the file ({len} bytes)",
                    lay.offset
                ),
            ));
        }
        if end.is_none_or(|e| e > len) {
            return Err(truncated(len));
        }
    }
    let skip = lay.offset - HEADER_SIZE as u64;
    let skipped = std::io::copy(&mut (&mut *r).take(skip), &mut std::io::sink())
        .map_err(|e| stream_error(path, e, gzip))?;
    if skipped < skip {
        return Err(DataError::format(
            path,
            format!(
                "vox_offset {} lies beyond the end of the {what} ({} bytes)",
                lay.offset,
                HEADER_SIZE as u64 + skipped
            ),
        ));
    }
    let mut data = Vec::new();
    if !gzip {
        data.reserve_exact(lay.nbytes as usize);
    }
    (&mut *r)
        .take(lay.nbytes)
        .read_to_end(&mut data)
        .map_err(|e| stream_error(path, e, gzip))?;
    if (data.len() as u64) < lay.nbytes {
        return Err(truncated(lay.offset + data.len() as u64));
    }
    if gzip {
        // Read to the end of the stream: the decoder checks the gzip trailer's CRC-32 and
        // length there, so damaged voxels or a cut-off trailer are errors, not data.
        std::io::copy(r, &mut std::io::sink()).map_err(|e| stream_error(path, e, gzip))?;
    }
    let (slope, inter) = if scale {
        (slope, h.scl_inter as f64)
    } else {
        (1.0, 0.0)
    };
    let values = decode_values(&data, lay.ty, h.big_endian, slope, inter);
    let img = Image {
        dims: lay.dims,
        values,
    };
    Ok((img, g))
}

/// Converts stored values to `f32` as `slope · v + inter`.
fn decode_values(b: &[u8], ty: ElementType, big: bool, slope: f64, inter: f64) -> Vec<f32> {
    macro_rules! conv {
        ($t:ty) => {{
            const N: usize = std::mem::size_of::<$t>();
            b.chunks_exact(N)
                .map(|c| {
                    let mut a = [0u8; N];
                    a.copy_from_slice(c);
                    let v = if big {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    };
                    (v as f64 * slope + inter) as f32
                })
                .collect()
        }};
    }
    match ty {
        ElementType::U8 => conv!(u8),
        ElementType::I8 => conv!(i8),
        ElementType::I16 => conv!(i16),
        ElementType::U16 => conv!(u16),
        ElementType::I32 => conv!(i32),
        ElementType::U32 => conv!(u32),
        ElementType::I64 => conv!(i64),
        ElementType::U64 => conv!(u64),
        ElementType::F32 => conv!(f32),
        ElementType::F64 => conv!(f64),
    }
}
