//! Figures: a grid of titled panels on a dark background, with an optional figure title, and
//! the slice strip of SPEC section 8 (four axial slices side by side).

use crate::report::ReportError;
use crate::report::font::{ADVANCE, GLYPH_H, draw_text, draw_text_scaled, text_width};
use crate::report::png::Rgb;
use crate::report::slice::{Axis, Shade, slice};

/// Space around the grid, in pixels.
pub const MARGIN: usize = 6;
/// Space between panels, in pixels.
pub const GAP: usize = 6;
/// Height of the title bar above each panel image.
pub const PANEL_TITLE_H: usize = GLYPH_H + 4;
/// Scale of the figure title's font.
const FIG_TITLE_SCALE: usize = 2;
/// Height of the figure title bar (when there is a title).
pub const FIG_TITLE_H: usize = GLYPH_H * FIG_TITLE_SCALE + 8;
/// Background of the figure.
pub const BACKGROUND: [u8; 3] = [16, 16, 16];
/// Background of a panel's image area not covered by its (aspect-kept) image.
pub const PANEL_BACKGROUND: [u8; 3] = [48, 48, 48];
/// Colour of titles.
pub const TEXT: [u8; 3] = [240, 240, 240];

/// A grid of `rows` × `cols` panels, each a title bar above a `panel_w` × `panel_h` image
/// area. Panel images are scaled by nearest neighbour to the largest size that fits while
/// keeping their aspect ratio, and centred.
#[derive(Debug, Clone)]
pub struct Figure {
    cols: usize,
    rows: usize,
    panel_w: usize,
    panel_h: usize,
    title: Option<String>,
    panels: Vec<Option<(String, Rgb)>>,
}

/// `img` scaled by nearest neighbour to the largest size within `max_w` × `max_h` with the
/// same aspect ratio (at least 1×1); `None` if `img` or the box is empty.
pub fn fit_nearest(img: &Rgb, max_w: usize, max_h: usize) -> Option<Rgb> {
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 || max_w == 0 || max_h == 0 {
        return None;
    }
    let (nw, nh) = if max_w * h <= max_h * w {
        (max_w, (h * max_w / w).clamp(1, max_h))
    } else {
        ((w * max_h / h).clamp(1, max_w), max_h)
    };
    let mut out = Rgb::new(nw, nh, [0; 3]);
    for y in 0..nh {
        let sy = y * h / nh;
        for x in 0..nw {
            out.set(x, y, img.get(x * w / nw, sy));
        }
    }
    Some(out)
}

/// The longest prefix of `text` that fits in `width` pixels at `scale`.
fn clip_text(text: &str, width: usize, scale: usize) -> &str {
    let fit = (width / scale + 1) / ADVANCE;
    match text.char_indices().nth(fit) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

impl Figure {
    /// An empty grid of `cols` × `rows` panels of `panel_w` × `panel_h` pixels.
    pub fn new(cols: usize, rows: usize, panel_w: usize, panel_h: usize) -> Figure {
        Figure {
            cols,
            rows,
            panel_w,
            panel_h,
            title: None,
            panels: vec![None; cols * rows],
        }
    }

    /// Sets the figure title, drawn large above the grid.
    pub fn title(&mut self, text: &str) -> &mut Self {
        self.title = Some(text.to_string());
        self
    }

    /// Puts `image` with `title` in the panel at (`row`, `col`).
    pub fn set(
        &mut self,
        row: usize,
        col: usize,
        title: &str,
        image: Rgb,
    ) -> Result<&mut Self, ReportError> {
        if row >= self.rows || col >= self.cols {
            return Err(ReportError::Invalid(format!(
                "figure panel (row {row}, col {col}) outside a grid of {} rows and {} cols",
                self.rows, self.cols
            )));
        }
        self.panels[row * self.cols + col] = Some((title.to_string(), image));
        Ok(self)
    }

    fn title_h(&self) -> usize {
        if self.title.is_some() { FIG_TITLE_H } else { 0 }
    }

    /// The size of the rendered figure, `(width, height)`.
    pub fn size(&self) -> (usize, usize) {
        let span = |n: usize, each: usize| if n == 0 { 0 } else { n * each + (n - 1) * GAP };
        (
            2 * MARGIN + span(self.cols, self.panel_w),
            2 * MARGIN + self.title_h() + span(self.rows, PANEL_TITLE_H + self.panel_h),
        )
    }

    /// The top-left pixel of the image area of panel (`row`, `col`) (below its title bar).
    pub fn panel_origin(&self, row: usize, col: usize) -> (usize, usize) {
        (
            MARGIN + col * (self.panel_w + GAP),
            MARGIN + self.title_h() + row * (PANEL_TITLE_H + self.panel_h + GAP) + PANEL_TITLE_H,
        )
    }

    /// Draws the figure.
    pub fn render(&self) -> Rgb {
        let (w, h) = self.size();
        let mut img = Rgb::new(w, h, BACKGROUND);
        if let Some(title) = &self.title {
            let avail = w.saturating_sub(2 * MARGIN);
            let scale = if text_width(title, FIG_TITLE_SCALE) <= avail {
                FIG_TITLE_SCALE
            } else {
                1
            };
            let text = clip_text(title, avail, scale);
            let x = MARGIN + (avail - text_width(text, scale)) / 2;
            let y = MARGIN + (FIG_TITLE_H - GLYPH_H * scale) / 2;
            draw_text_scaled(&mut img, x, y, text, TEXT, scale);
        }
        for row in 0..self.rows {
            for col in 0..self.cols {
                let (x0, y0) = self.panel_origin(row, col);
                img.fill_rect(x0, y0, self.panel_w, self.panel_h, PANEL_BACKGROUND);
                let Some((title, panel)) = &self.panels[row * self.cols + col] else {
                    continue;
                };
                draw_text(
                    &mut img,
                    x0,
                    y0 - PANEL_TITLE_H + 2,
                    clip_text(title, self.panel_w, 1),
                    TEXT,
                );
                if let Some(fit) = fit_nearest(panel, self.panel_w, self.panel_h) {
                    let dx = (self.panel_w - fit.width()) / 2;
                    let dy = (self.panel_h - fit.height()) / 2;
                    img.blit(&fit, x0 + dx, y0 + dy);
                }
            }
        }
        img
    }
}

/// A panel size for a `w` × `h` slice: the slice scaled up by a whole factor until its longer
/// side reaches 128 pixels (never scaled down), so small volumes stay visible.
pub fn strip_panel_size(w: usize, h: usize) -> (usize, usize) {
    let s = (128 / w.max(h).max(1)).max(1);
    (w * s, h * s)
}

/// The slice strip of SPEC section 8: four axial slices of the `[D, H, W]` volume `vol` at
/// z = 0, D/4, D/2 and 3D/4 side by side, each min-max scaled to gray and titled
/// "`title` z=`z`".
pub fn slice_strip(vol: &[f32], dims: [usize; 3], title: &str) -> Result<Rgb, ReportError> {
    let d = dims[0];
    let (pw, ph) = strip_panel_size(dims[2], dims[1]);
    let mut fig = Figure::new(4, 1, pw, ph);
    for (col, z) in [0, d / 4, d / 2, 3 * d / 4].into_iter().enumerate() {
        let s = slice(vol, dims, Axis::Axial, z)?;
        fig.set(0, col, &format!("{title} z={z}"), s.render(Shade::Gray))?;
    }
    Ok(fig.render())
}
