//! Typed, validating access to MetaImage header keys, and the validation of a whole header
//! into a [`Header`]: numbers parse, counts match `NDims`, sizes do not overflow, spacing is
//! finite and positive. Every error names the header file, the key and the problem.

use super::ElementType;
use super::header::{DataFile, Header, Line, Skip};
use crate::data::error::{DataError, DataResult};
use std::path::Path;

/// The first 40 characters of `s`, for messages.
pub(super) fn snippet(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Header lines with typed, validating accessors; every error names the file and the key.
pub(super) struct Keys<'a> {
    pub path: &'a Path,
    pub lines: Vec<Line>,
}

impl Keys<'_> {
    pub fn err(&self, msg: impl Into<String>) -> DataError {
        DataError::format(self.path, msg)
    }

    /// The value of `key`; an error if the key occurs twice.
    fn get(&self, key: &str) -> DataResult<Option<&str>> {
        let mut found: Option<&Line> = None;
        for l in self.lines.iter().filter(|l| l.key == key) {
            if let Some(first) = found {
                return Err(self.err(format!(
                    "{key} is given twice (header lines {} and {})",
                    first.no, l.no
                )));
            }
            found = Some(l);
        }
        Ok(found.map(|l| l.value.as_str()))
    }

    /// `n` finite numbers from the first present of synonymous `keys`; an error if several
    /// are present with different numbers.
    fn synonym_numbers(&self, keys: &[&str], n: usize) -> DataResult<Option<Vec<f64>>> {
        let mut found: Option<(&str, Vec<f64>)> = None;
        for &key in keys {
            let Some(v) = self.get(key)? else { continue };
            let x = self.numbers(key, v, n)?;
            match &found {
                Some((first, fx)) if *fx != x => {
                    return Err(self.err(format!("{first} and {key} are both given and differ")));
                }
                Some(_) => {}
                None => found = Some((key, x)),
            }
        }
        Ok(found.map(|(_, x)| x))
    }

    fn required(&self, key: &str) -> DataResult<&str> {
        self.get(key)?
            .ok_or_else(|| self.err(format!("header has no {key}")))
    }

    /// An integer value.
    fn int(&self, key: &str, v: &str) -> DataResult<i64> {
        v.parse::<i64>()
            .map_err(|_| self.err(format!("{key} = {:?} is not an integer", snippet(v))))
    }

    /// A `True`/`False` value (also `1`/`0`, any case).
    fn boolean(&self, key: &str) -> DataResult<Option<bool>> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(self.err(format!("{key} = {:?}: expected True or False", snippet(v)))),
        }
    }

    /// Exactly `n` finite numbers.
    fn numbers(&self, key: &str, v: &str, n: usize) -> DataResult<Vec<f64>> {
        let mut out = Vec::with_capacity(n);
        for tok in v.split_whitespace() {
            let x: f64 = tok
                .parse()
                .map_err(|_| self.err(format!("{key}: {:?} is not a number", snippet(tok))))?;
            if !x.is_finite() {
                return Err(self.err(format!("{key}: {tok} is not a finite number")));
            }
            out.push(x);
        }
        if out.len() != n {
            return Err(self.err(format!("{key} has {} values, expected {n}", out.len())));
        }
        Ok(out)
    }
}

/// Validates the keys into a [`Header`].
pub(super) fn parse(k: &Keys, text_len: u64) -> DataResult<Header> {
    if let Some(t) = k.get("ObjectType")?
        && !t.eq_ignore_ascii_case("Image")
    {
        return Err(k.err(format!("ObjectType = {:?}: not an Image", snippet(t))));
    }
    let nd = k.int("NDims", k.required("NDims")?)?;
    if nd != 3 && nd != 2 {
        return Err(k.err(format!(
            "NDims = {nd}: only 3D images (or 2D, read as one slice) are supported"
        )));
    }
    let ndims = nd as usize;
    let dim_size = dims(k, ndims)?;
    let element = element_type(k)?;
    if let Some(v) = k.get("ElementNumberOfChannels")? {
        let c = k.int("ElementNumberOfChannels", v)?;
        if c != 1 {
            return Err(k.err(format!(
                "ElementNumberOfChannels = {c}: only scalar images (1 channel) are supported"
            )));
        }
    }
    let voxels = dim_size
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| k.err(format!("DimSize {dim_size:?} has too many voxels")))?;
    let data_bytes = (voxels as u64)
        .checked_mul(element.size() as u64)
        .ok_or_else(|| k.err(format!("DimSize {dim_size:?} is too large")))?;
    // ElementSize (the voxel's physical extent) stands in for a missing ElementSpacing; when
    // both are given they may differ (slice thickness vs spacing) and ElementSpacing is used.
    let spacing_key = match k.get("ElementSpacing")? {
        Some(v) => Some(("ElementSpacing", v)),
        None => k.get("ElementSize")?.map(|v| ("ElementSize", v)),
    };
    let spacing = match spacing_key {
        Some((key, v)) => {
            let s = k.numbers(key, v, ndims)?;
            if let Some(bad) = s.iter().find(|&&x| x <= 0.0) {
                return Err(k.err(format!("{key}: spacing {bad} is not positive")));
            }
            s
        }
        None => vec![1.0; ndims],
    };
    let offset = k
        .synonym_numbers(&["Offset", "Origin", "Position"], ndims)?
        .unwrap_or_else(|| vec![0.0; ndims]);
    let matrix = k
        .synonym_numbers(
            &["TransformMatrix", "Rotation", "Orientation"],
            ndims * ndims,
        )?
        .unwrap_or_else(|| {
            (0..ndims * ndims)
                .map(|i| if i % (ndims + 1) == 0 { 1.0 } else { 0.0 })
                .collect()
        });
    if k.boolean("BinaryData")? == Some(false) {
        return Err(k.err("BinaryData = False (ASCII data) is not supported"));
    }
    let msb = k.boolean("BinaryDataByteOrderMSB")?;
    let emsb = k.boolean("ElementByteOrderMSB")?;
    if msb.is_some() && emsb.is_some() && msb != emsb {
        return Err(k.err("BinaryDataByteOrderMSB and ElementByteOrderMSB disagree"));
    }
    let compressed = k.boolean("CompressedData")?.unwrap_or(false);
    let compressed_size = match k.get("CompressedDataSize")? {
        Some(v) => {
            let n = k.int("CompressedDataSize", v)?;
            if n <= 0 {
                return Err(k.err(format!("CompressedDataSize = {n} is not positive")));
            }
            Some(n as u64)
        }
        None => None,
    };
    let skip = match k.get("HeaderSize")? {
        None => Skip::Default,
        Some(v) => match k.int("HeaderSize", v)? {
            -1 => Skip::AtEnd,
            0 => Skip::Default,
            n if n > 0 => Skip::Bytes(n as u64),
            n => return Err(k.err(format!("HeaderSize = {n}: must be -1 or at least 0"))),
        },
    };
    let (data_file, data_file_name) = data_file(k)?;
    Ok(Header {
        ndims,
        dim_size,
        data_bytes,
        spacing,
        offset,
        matrix,
        element,
        big_endian: msb.or(emsb).unwrap_or(false),
        compressed,
        compressed_size,
        skip,
        data_file,
        data_file_name,
        text_len,
    })
}

/// `DimSize`: `ndims` positive integers.
fn dims(k: &Keys, ndims: usize) -> DataResult<Vec<usize>> {
    let v = k.required("DimSize")?;
    let mut out = Vec::with_capacity(ndims);
    for tok in v.split_whitespace() {
        let d = tok
            .parse::<usize>()
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| {
                k.err(format!(
                    "DimSize: {:?} is not a positive integer",
                    snippet(tok)
                ))
            })?;
        out.push(d);
    }
    if out.len() != ndims {
        return Err(k.err(format!(
            "DimSize has {} values but NDims = {ndims}",
            out.len()
        )));
    }
    Ok(out)
}

/// `ElementType`: one of the scalar `MET_*` names.
fn element_type(k: &Keys) -> DataResult<ElementType> {
    let v = k.required("ElementType")?;
    Ok(match v {
        "MET_CHAR" => ElementType::I8,
        "MET_UCHAR" => ElementType::U8,
        "MET_SHORT" => ElementType::I16,
        "MET_USHORT" => ElementType::U16,
        "MET_INT" | "MET_LONG" => ElementType::I32,
        "MET_UINT" | "MET_ULONG" => ElementType::U32,
        "MET_LONG_LONG" => ElementType::I64,
        "MET_ULONG_LONG" => ElementType::U64,
        "MET_FLOAT" => ElementType::F32,
        "MET_DOUBLE" => ElementType::F64,
        _ => {
            return Err(k.err(format!(
                "ElementType = {:?} is not a supported scalar MET_ type",
                snippet(v)
            )));
        }
    })
}

/// `ElementDataFile`: `LOCAL`, or a file name relative to the header's directory (or absolute).
/// File lists (`LIST`) and numbered patterns (`%d`) are not supported.
fn data_file(k: &Keys) -> DataResult<(DataFile, String)> {
    let v = k.required("ElementDataFile")?;
    if v.is_empty() {
        return Err(k.err("ElementDataFile is empty"));
    }
    if v.eq_ignore_ascii_case("LOCAL") {
        return Ok((DataFile::Local, v.to_string()));
    }
    if v.starts_with("LIST") || v.contains('%') {
        return Err(k.err(format!(
            "ElementDataFile = {:?}: slice lists and file patterns are not supported",
            snippet(v)
        )));
    }
    let p = Path::new(v);
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        k.path.parent().unwrap_or(Path::new("")).join(p)
    };
    Ok((DataFile::Path(full), v.to_string()))
}
