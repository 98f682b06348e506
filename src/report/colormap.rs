//! Colour maps: a perceptual one (viridis, from a control-point table interpolated
//! linearly) for scaled intensities, and a diverging one for Jacobian determinants that
//! marks folding (values ≤ 0) in red.

/// A map from a scaled value `t` in `[0, 1]` to a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colormap {
    /// Black (0) to white (1).
    Gray,
    /// Dark purple (0) through blue and green to yellow (1); luminance rises monotonically.
    Viridis,
}

impl Colormap {
    /// The colour of `t` (clamped to `[0, 1]`; NaN maps to 0).
    pub fn rgb(self, t: f32) -> [u8; 3] {
        match self {
            Colormap::Gray => {
                let v = (clamp01(t) * 255.0).round() as u8;
                [v, v, v]
            }
            Colormap::Viridis => viridis(t),
        }
    }
}

fn clamp01(t: f32) -> f32 {
    if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) }
}

/// Viridis sampled at t = 0, 0.1, ..., 1 (sRGB, 8 bits).
const VIRIDIS: [[u8; 3]; 11] = [
    [68, 1, 84],
    [72, 36, 117],
    [65, 68, 135],
    [53, 95, 141],
    [42, 120, 142],
    [33, 145, 140],
    [34, 168, 132],
    [68, 191, 112],
    [122, 209, 81],
    [189, 223, 38],
    [253, 231, 37],
];

fn lerp(a: [u8; 3], b: [u8; 3], f: f32) -> [u8; 3] {
    let mut out = [0u8; 3];
    for c in 0..3 {
        let v = f32::from(a[c]) + (f32::from(b[c]) - f32::from(a[c])) * f;
        out[c] = v.round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// The viridis colour of `t` (clamped to `[0, 1]`; NaN maps to 0).
pub fn viridis(t: f32) -> [u8; 3] {
    let x = clamp01(t) * (VIRIDIS.len() - 1) as f32;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    lerp(VIRIDIS[i], VIRIDIS[i + 1], x - i as f32)
}

/// The colour marking folding (Jacobian determinant ≤ 0).
pub const FOLD_COLOUR: [u8; 3] = [255, 0, 0];
/// Jacobian determinant 1 (no volume change).
const JAC_MID: [u8; 3] = [255, 255, 255];
/// Compression by half or more (0 < J ≤ 0.5).
const JAC_LOW: [u8; 3] = [33, 90, 180];
/// Expansion by two or more (J ≥ 2).
const JAC_HIGH: [u8; 3] = [20, 125, 50];

/// The colour of a Jacobian determinant `j`: [`FOLD_COLOUR`] (red) for `j ≤ 0`; otherwise a
/// diverging map on `log2(j)`, blue for compression (saturating at j = 0.5) through white at
/// j = 1 to green for expansion (saturating at j = 2), so equal ratios get equal colours.
/// NaN and infinities are black.
pub fn jacobian_colour(j: f32) -> [u8; 3] {
    if !j.is_finite() {
        return [0, 0, 0];
    }
    if j <= 0.0 {
        return FOLD_COLOUR;
    }
    let s = j.log2().clamp(-1.0, 1.0);
    if s < 0.0 {
        lerp(JAC_MID, JAC_LOW, -s)
    } else {
        lerp(JAC_MID, JAC_HIGH, s)
    }
}
