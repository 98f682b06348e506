//! 8-bit images ([`Gray`], [`Rgb`]) and PNG encoding (`png` crate), with atomic saving.

use crate::report::ReportError;
use std::path::Path;

/// A row-major 8-bit image: what PNG encoding needs to know.
pub trait Raster {
    /// Width in pixels.
    fn width(&self) -> usize;
    /// Height in pixels.
    fn height(&self) -> usize;
    /// Bytes per pixel (1 gray, 3 RGB).
    fn channels(&self) -> usize;
    /// The pixels, row by row from the top, `width * height * channels` bytes.
    fn bytes(&self) -> &[u8];
}

fn check_len(what: &str, w: usize, h: usize, c: usize, len: usize) -> Result<(), ReportError> {
    if w.checked_mul(h).and_then(|n| n.checked_mul(c)) != Some(len) {
        return Err(ReportError::Invalid(format!(
            "{what} image {w}x{h} needs {} bytes, got {len}",
            w.saturating_mul(h).saturating_mul(c)
        )));
    }
    Ok(())
}

/// A gray image, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gray {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Gray {
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// A black image.
    pub fn new(width: usize, height: usize) -> Gray {
        Gray {
            width,
            height,
            data: vec![0; width * height],
        }
    }

    /// An image from `width * height` row-major bytes.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Result<Gray, ReportError> {
        check_len("gray", width, height, 1, data.len())?;
        Ok(Gray {
            width,
            height,
            data,
        })
    }

    /// The pixel at column `x`, row `y` (panics out of bounds, like slice indexing).
    pub fn get(&self, x: usize, y: usize) -> u8 {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside {}x{}",
            self.width,
            self.height
        );
        self.data[y * self.width + x]
    }

    /// Sets the pixel at (`x`, `y`); pixels outside the image are ignored (clipping).
    pub fn set(&mut self, x: usize, y: usize, v: u8) {
        if x < self.width && y < self.height {
            self.data[y * self.width + x] = v;
        }
    }

    /// The same image as RGB (each gray value on all three channels).
    pub fn to_rgb(&self) -> Rgb {
        Rgb {
            width: self.width,
            height: self.height,
            data: self.data.iter().flat_map(|&v| [v, v, v]).collect(),
        }
    }
}

/// An RGB image, three bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Rgb {
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// An image filled with `colour`.
    pub fn new(width: usize, height: usize, colour: [u8; 3]) -> Rgb {
        Rgb {
            width,
            height,
            data: colour.repeat(width * height),
        }
    }

    /// An image from `width * height * 3` row-major bytes.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Result<Rgb, ReportError> {
        check_len("RGB", width, height, 3, data.len())?;
        Ok(Rgb {
            width,
            height,
            data,
        })
    }

    /// The pixel at column `x`, row `y` (panics out of bounds, like slice indexing).
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside {}x{}",
            self.width,
            self.height
        );
        let i = 3 * (y * self.width + x);
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Sets the pixel at (`x`, `y`); pixels outside the image are ignored (clipping).
    pub fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = 3 * (y * self.width + x);
            self.data[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Fills the rectangle at (`x`, `y`) of `w` × `h` pixels, clipped to the image.
    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, c: [u8; 3]) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.set(xx, yy, c);
            }
        }
    }

    /// Copies `src` with its top-left corner at (`x`, `y`), clipped to the image.
    pub fn blit(&mut self, src: &Rgb, x: usize, y: usize) {
        for sy in 0..src.height {
            for sx in 0..src.width {
                self.set(x + sx, y + sy, src.get(sx, sy));
            }
        }
    }
}

impl Raster for Gray {
    fn width(&self) -> usize {
        self.width
    }
    fn height(&self) -> usize {
        self.height
    }
    fn channels(&self) -> usize {
        1
    }
    fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl Raster for Rgb {
    fn width(&self) -> usize {
        self.width
    }
    fn height(&self) -> usize {
        self.height
    }
    fn channels(&self) -> usize {
        3
    }
    fn bytes(&self) -> &[u8] {
        &self.data
    }
}

/// Encodes `img` as an 8-bit PNG. Errors for an empty image (PNG needs at least 1×1) or one
/// larger than PNG allows.
pub fn encode_png<I: Raster>(img: &I) -> Result<Vec<u8>, ReportError> {
    let (w, h) = (img.width(), img.height());
    let bad = |msg: String| ReportError::Invalid(format!("PNG encoding of a {w}x{h} image: {msg}"));
    let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(bad("too large".into()));
    };
    if w == 0 || h == 0 {
        return Err(bad("the image is empty".into()));
    }
    let colour = match img.channels() {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        c => return Err(bad(format!("{c} channels unsupported"))),
    };
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w32, h32);
    enc.set_color(colour);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| bad(e.to_string()))?;
    writer
        .write_image_data(img.bytes())
        .map_err(|e| bad(e.to_string()))?;
    writer.finish().map_err(|e| bad(e.to_string()))?;
    Ok(out)
}

/// Writes `img` as a PNG file at `path` atomically: into a temporary file beside it, then
/// renamed over `path`, so a reader never sees a half-written figure.
pub fn save_png<I: Raster>(path: &Path, img: &I) -> Result<(), ReportError> {
    let bytes = encode_png(img)?;
    crate::fsutil::atomic_write(path, &bytes).map_err(|e| ReportError::io(path, e))
}
