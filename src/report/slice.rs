//! 2-D slices of a `[D, H, W]` volume (z, y, x; x fastest) for figures, oriented so they look
//! natural: axial (fixed z) has rows = y from the top and columns = x; coronal (fixed y) and
//! sagittal (fixed x) put z up (the last z on the top row) with columns x and y respectively.

use crate::report::ReportError;
use crate::report::colormap::{Colormap, jacobian_colour};
use crate::report::png::{Gray, Rgb};

/// The axis held fixed by a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Fixed z (depth): an x–y image.
    Axial,
    /// Fixed y (height): an x–z image, z up.
    Coronal,
    /// Fixed x (width): a y–z image, z up.
    Sagittal,
}

impl Axis {
    /// All three, in the order axial, coronal, sagittal.
    pub const ALL: [Axis; 3] = [Axis::Axial, Axis::Coronal, Axis::Sagittal];

    /// The name of the fixed coordinate ("z", "y", "x"), for titles.
    pub fn coord(self) -> &'static str {
        match self {
            Axis::Axial => "z",
            Axis::Coronal => "y",
            Axis::Sagittal => "x",
        }
    }

    /// The number of slices along this axis for a `[D, H, W]` volume.
    pub fn extent(self, dims: [usize; 3]) -> usize {
        match self {
            Axis::Axial => dims[0],
            Axis::Coronal => dims[1],
            Axis::Sagittal => dims[2],
        }
    }
}

/// How a slice's values become colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shade {
    /// Min-max scaled gray.
    Gray,
    /// Min-max scaled viridis.
    Viridis,
    /// Raw values through [`jacobian_colour`] (no scaling; ≤ 0 in red).
    Jacobian,
}

/// A 2-D slice of raw values, row-major with row 0 at the top.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice2d {
    width: usize,
    height: usize,
    values: Vec<f32>,
}

/// Takes slice `index` along `axis` of `vol`, a `[D, H, W]` volume of `D * H * W` values.
pub fn slice(
    vol: &[f32],
    dims: [usize; 3],
    axis: Axis,
    index: usize,
) -> Result<Slice2d, ReportError> {
    let [d, h, w] = dims;
    if d.checked_mul(h).and_then(|n| n.checked_mul(w)) != Some(vol.len()) {
        return Err(ReportError::Invalid(format!(
            "slice: volume of {} values does not have dims [D, H, W] = {dims:?}",
            vol.len()
        )));
    }
    let n = axis.extent(dims);
    if index >= n {
        return Err(ReportError::Invalid(format!(
            "slice: {} = {index} outside a volume of dims {dims:?} ({n} slices)",
            axis.coord()
        )));
    }
    let at = |z: usize, y: usize, x: usize| vol[(z * h + y) * w + x];
    let (width, height, values): (usize, usize, Vec<f32>) = match axis {
        Axis::Axial => (
            w,
            h,
            (0..h)
                .flat_map(|y| (0..w).map(move |x| (y, x)))
                .map(|(y, x)| at(index, y, x))
                .collect(),
        ),
        Axis::Coronal => (
            w,
            d,
            (0..d)
                .rev()
                .flat_map(|z| (0..w).map(move |x| (z, x)))
                .map(|(z, x)| at(z, index, x))
                .collect(),
        ),
        Axis::Sagittal => (
            h,
            d,
            (0..d)
                .rev()
                .flat_map(|z| (0..h).map(move |y| (z, y)))
                .map(|(z, y)| at(z, y, index))
                .collect(),
        ),
    };
    Ok(Slice2d {
        width,
        height,
        values,
    })
}

/// The middle slices (index `extent / 2`) along the axial, coronal and sagittal axes, for
/// overview figures.
pub fn middle_slices(vol: &[f32], dims: [usize; 3]) -> Result<[Slice2d; 3], ReportError> {
    let [a, c, s] = Axis::ALL.map(|axis| slice(vol, dims, axis, axis.extent(dims) / 2));
    Ok([a?, c?, s?])
}

impl Slice2d {
    /// A slice from `width * height` row-major values (row 0 at the top).
    pub fn from_raw(width: usize, height: usize, values: Vec<f32>) -> Result<Slice2d, ReportError> {
        if width.checked_mul(height) != Some(values.len()) {
            return Err(ReportError::Invalid(format!(
                "slice {width}x{height} needs {} values, got {}",
                width.saturating_mul(height),
                values.len()
            )));
        }
        Ok(Slice2d {
            width,
            height,
            values,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The raw values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The smallest and largest finite values, or `None` if there are none.
    pub fn min_max(&self) -> Option<(f32, f32)> {
        self.values
            .iter()
            .filter(|v| v.is_finite())
            .fold(None, |acc, &v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
    }

    /// Values min-max scaled to `[0, 1]`. A constant slice gives 0.5 everywhere; NaN and
    /// infinities give 0.
    pub fn scaled(&self) -> Vec<f32> {
        let Some((lo, hi)) = self.min_max() else {
            return vec![0.0; self.values.len()];
        };
        let range = f64::from(hi) - f64::from(lo);
        self.values
            .iter()
            .map(|&v| {
                if !v.is_finite() {
                    0.0
                } else if range > 0.0 {
                    ((f64::from(v) - f64::from(lo)) / range) as f32
                } else {
                    0.5
                }
            })
            .collect()
    }

    /// Min-max scaled to 0..=255 (rounded): min → 0, max → 255, a constant slice mid-gray
    /// (128), NaN and infinities black.
    pub fn to_gray(&self) -> Gray {
        let data = self
            .scaled()
            .iter()
            .map(|&t| (t * 255.0).round() as u8)
            .collect();
        Gray::from_raw(self.width, self.height, data)
            .unwrap_or_else(|_| Gray::new(self.width, self.height))
    }

    /// The slice in colour.
    pub fn render(&self, shade: Shade) -> Rgb {
        let data: Vec<u8> = match shade {
            Shade::Gray => return self.to_gray().to_rgb(),
            Shade::Viridis => self
                .scaled()
                .iter()
                .flat_map(|&t| Colormap::Viridis.rgb(t))
                .collect(),
            Shade::Jacobian => self
                .values
                .iter()
                .flat_map(|&j| jacobian_colour(j))
                .collect(),
        };
        Rgb::from_raw(self.width, self.height, data)
            .unwrap_or_else(|_| Rgb::new(self.width, self.height, [0; 3]))
    }
}
