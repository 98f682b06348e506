//! A quick look at a volume: one axial slice as an 8-bit grayscale PNG.

use crate::data::error::{DataError, DataResult};
use crate::data::volume::Volume;
use std::path::Path;

/// Encodes axial slice `z` of `vol` as a grayscale PNG, mapping the HU window `[lo, hi]` to
/// 0..255. Flipped axes (negative direction cosines) are undone, so the image is shown in the
/// radiological convention whatever the storage order: patient's right on the left of the
/// image, anterior at the top.
pub fn axial_png(vol: &Volume, z: usize, window: (f32, f32)) -> DataResult<Vec<u8>> {
    let [d, h, w] = vol.dims;
    let name = Path::new("axial.png");
    if z >= d {
        return Err(DataError::format(
            name,
            format!("slice {z} is outside a volume of {d} slices"),
        ));
    }
    let (lo, hi) = window;
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return Err(DataError::format(
            name,
            format!("empty window [{lo}, {hi}]"),
        ));
    }
    let flip_x = vol.direction[0][0] < 0.0;
    let flip_y = vol.direction[1][1] < 0.0;
    let mut pixels = Vec::with_capacity(h * w);
    for row in 0..h {
        let j = if flip_y { h - 1 - row } else { row };
        for col in 0..w {
            let i = if flip_x { w - 1 - col } else { col };
            let v = (vol.at(z, j, i) - lo) / (hi - lo);
            pixels.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
    }
    let mut out = Vec::new();
    let err = |e: png::EncodingError| DataError::format(name, e.to_string());
    let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(&pixels).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}
