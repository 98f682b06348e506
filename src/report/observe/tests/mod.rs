//! Tests of the per-epoch observations: file names and sizes, what each strip draws, the
//! overview's Jacobian panel and title, length validation, and a realistic pair rendered
//! through the engine's own integration and sampling.

mod files;
mod overview;
mod realistic;

use super::*;
use crate::report::figure::{GAP, MARGIN, PANEL_TITLE_H};
use crate::report::{FOLD_COLOUR, jacobian_colour};
use std::path::PathBuf;

/// Decodes a PNG file with the `png` crate: (width, height, RGB pixels).
fn decode(path: &Path) -> (usize, usize, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = ::png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, ::png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buf)
}

/// The pixel (x, y) of decoded RGB bytes of width `w`.
fn px(data: &[u8], w: usize, x: usize, y: usize) -> [u8; 3] {
    let i = 3 * (y * w + x);
    [data[i], data[i + 1], data[i + 2]]
}

/// A `[D, H, W]` volume from `f(x, y, z)`.
fn volume(dims: [usize; 3], f: impl Fn(f32, f32, f32) -> f32) -> Vec<f32> {
    grid_from(dims, |x, y, z| [f(x, y, z)]).to_vec()
}

/// A `[D, H, W, C]` field from `f(x, y, z)` (x fastest).
fn grid_from<const C: usize>(dims: [usize; 3], f: impl Fn(f32, f32, f32) -> [f32; C]) -> Vec<f32> {
    let [d, h, w] = dims;
    let mut out = Vec::with_capacity(d * h * w * C);
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                out.extend(f(x as f32, y as f32, z as f32));
            }
        }
    }
    out
}

/// Owned arrays for an [`Observation`].
struct Pair {
    dims: [usize; 3],
    src: Vec<f32>,
    tgt: Vec<f32>,
    warped: Vec<f32>,
    gradient: Vec<f32>,
    grid: Vec<f32>,
    seg: Vec<f32>,
}

impl Pair {
    /// A blob pair on the identity grid: the gradient's channels vary along x, y and −x.
    fn simple(dims: [usize; 3]) -> Pair {
        let blob = |cx: f32| {
            move |x: f32, y: f32, z: f32| {
                (-(x - cx).powi(2) / 8.0 - (y - 5.0).powi(2) / 8.0 - (z - 4.0).powi(2) / 8.0).exp()
            }
        };
        let w = dims[2] as f32;
        Pair {
            dims,
            src: volume(dims, blob(4.0)),
            tgt: volume(dims, blob(6.0)),
            warped: volume(dims, blob(5.0)),
            gradient: grid_from(dims, |x, y, _| {
                [0.4 + x / 50.0, 0.4 + y / 50.0, 0.6 - x / 50.0]
            }),
            grid: grid_from(dims, |x, y, z| [x, y, z]),
            // The warped source mask: the left half in x.
            seg: volume(dims, |x, _, _| if x < w / 2.0 { 1.0 } else { 0.0 }),
        }
    }

    fn obs(&self, with_seg: bool) -> Observation<'_> {
        Observation {
            dims: self.dims,
            src: &self.src,
            tgt: &self.tgt,
            warped: &self.warped,
            gradient: &self.gradient,
            grid: &self.grid,
            warped_seg: with_seg.then_some(&self.seg[..]),
        }
    }
}

const STRIPS: [&str; 6] = ["src", "tgt", "pred", "grad_x", "grad_y", "grad_z"];

/// The size of a strip figure for `dims`.
fn strip_size(dims: [usize; 3]) -> (usize, usize) {
    let (pw, ph) = strip_panel_size(dims[2], dims[1]);
    (
        2 * MARGIN + 4 * pw + 3 * GAP,
        2 * MARGIN + PANEL_TITLE_H + ph,
    )
}
