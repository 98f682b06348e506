//! NIfTI-1 affine rules: the voxel → RAS affine from sform, qform or pixdim; its conversion to
//! and from the LPS geometry of [`Volume`]; and the qform quaternion of a geometry.

use super::header::Header;
use crate::data::error::{DataError, DataResult};
use crate::data::volume::Volume;
use std::path::Path;

/// A 3×4 affine: rows are world axes, columns 0..3 image axes, column 3 the translation.
pub(super) type Affine = [[f64; 4]; 3];

/// Geometry in [`Volume`] terms (LPS, image-axis order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Geometry {
    pub spacing: [f64; 3],
    pub origin: [f64; 3],
    pub direction: [[f64; 3]; 3],
}

fn finite(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// `pixdim[1..=3]` as voxel sizes for the qform and fallback rules: they must be positive.
fn voxel_sizes(h: &Header, path: &Path, rule: &str) -> DataResult<[f64; 3]> {
    let mut out = [0.0; 3];
    for (a, o) in out.iter_mut().enumerate() {
        let p = h.pixdim[a + 1];
        if p.is_nan() || p <= 0.0 {
            return Err(DataError::format(
                path,
                format!(
                    "pixdim[{}] = {p} is not a positive voxel size ({rule})",
                    a + 1
                ),
            ));
        }
        *o = p as f64;
    }
    Ok(out)
}

/// The voxel → RAS (mm) affine by the NIfTI-1 rules: sform when `sform_code > 0`, else the
/// qform when `qform_code > 0`, else `diag(pixdim[1..=3])` with a zero origin.
pub(super) fn ras_affine(h: &Header, path: &Path) -> DataResult<Affine> {
    if let Some(a) = (1..=3).find(|&a| !h.pixdim[a].is_finite()) {
        return Err(DataError::format(
            path,
            format!("pixdim[{a}] is {}", h.pixdim[a]),
        ));
    }
    if h.sform_code > 0 {
        if !h.srow.iter().all(|r| finite(r)) {
            return Err(DataError::format(
                path,
                format!("sform (sform_code {}) has a non-finite entry", h.sform_code),
            ));
        }
        return Ok(h.srow.map(|r| r.map(|v| v as f64)));
    }
    if h.qform_code > 0 {
        if !finite(&h.quatern) || !finite(&h.qoffset) {
            return Err(DataError::format(
                path,
                format!("qform (qform_code {}) has a non-finite entry", h.qform_code),
            ));
        }
        let size = voxel_sizes(h, path, "qform")?;
        let qfac = if h.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
        let r = quaternion_to_rotation(h.quatern.map(|v| v as f64));
        let scale = [size[0], size[1], size[2] * qfac];
        let mut m = [[0.0; 4]; 3];
        for (row, (mrow, rrow)) in m.iter_mut().zip(&r).enumerate() {
            for c in 0..3 {
                mrow[c] = rrow[c] * scale[c];
            }
            mrow[3] = h.qoffset[row] as f64;
        }
        return Ok(m);
    }
    let size = voxel_sizes(h, path, "no sform or qform: pixdim scaling")?;
    let mut m = [[0.0; 4]; 3];
    for a in 0..3 {
        m[a][a] = size[a];
    }
    Ok(m)
}

/// The rotation matrix of the NIfTI quaternion (b, c, d); `a = sqrt(1 − b² − c² − d²)`, and
/// when that is ~0 (b, c, d) is normalised and `a = 0` (a 180° rotation), as the standard says.
pub(super) fn quaternion_to_rotation([b, c, d]: [f64; 3]) -> [[f64; 3]; 3] {
    let s = b * b + c * c + d * d;
    let (a, b, c, d) = if 1.0 - s < 1e-7 {
        let n = s.sqrt();
        (0.0, b / n, c / n, d / n)
    } else {
        ((1.0 - s).sqrt(), b, c, d)
    };
    [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ]
}

fn det3(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// The LPS geometry of a RAS affine: rows 0 and 1 negated, spacing = column norms, direction =
/// normalised columns, origin = translation. Zero-length columns and a singular matrix (or
/// non-finite entries) are errors.
pub(super) fn geometry_from_ras(m: &Affine, path: &Path) -> DataResult<Geometry> {
    // `+ 0.0` turns the −0.0 of a negated zero into 0.0.
    let lps = |r: usize, c: usize| if r < 2 { -m[r][c] + 0.0 } else { m[r][c] };
    let mut g = Geometry {
        spacing: [0.0; 3],
        origin: [lps(0, 3), lps(1, 3), lps(2, 3)],
        direction: [[0.0; 3]; 3],
    };
    for a in 0..3 {
        let col = [lps(0, a), lps(1, a), lps(2, a)];
        let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return Err(DataError::format(
                path,
                format!("affine column {a} {col:?} is not a valid voxel axis"),
            ));
        }
        g.spacing[a] = norm;
        g.direction[a] = col.map(|v| v / norm);
    }
    if det3(&g.direction).abs() < 1e-6 || !g.origin.iter().all(|v| v.is_finite()) {
        return Err(DataError::format(
            path,
            format!("affine {m:?} is singular or not finite"),
        ));
    }
    Ok(g)
}

/// Checks a volume's geometry before writing: positive finite spacing, finite origin, a finite
/// non-singular direction matrix with unit-length axes (within 1e-3).
pub(super) fn check_geometry(vol: &Volume, path: &Path) -> DataResult<()> {
    let ok_spacing = vol.spacing.iter().all(|s| *s > 0.0 && s.is_finite());
    let ok_origin = vol.origin.iter().all(|v| v.is_finite());
    let ok_dir = vol.direction.iter().all(|d| {
        let n = d.iter().map(|v| v * v).sum::<f64>().sqrt();
        (n - 1.0).abs() < 1e-3
    }) && det3(&vol.direction).abs() > 1e-6;
    if ok_spacing && ok_origin && ok_dir {
        Ok(())
    } else {
        Err(DataError::format(
            path,
            format!(
                "cannot write a volume with spacing {:?}, origin {:?}, direction {:?}",
                vol.spacing, vol.origin, vol.direction
            ),
        ))
    }
}

/// The voxel → RAS affine of a volume's geometry (the inverse of [`geometry_from_ras`]).
pub(super) fn ras_from_geometry(vol: &Volume) -> Affine {
    let sign = [-1.0, -1.0, 1.0];
    let mut m = [[0.0; 4]; 3];
    for (r, row) in m.iter_mut().enumerate() {
        for (a, v) in row.iter_mut().take(3).enumerate() {
            *v = sign[r] * vol.direction[a][r] * vol.spacing[a];
        }
        row[3] = sign[r] * vol.origin[r];
    }
    m
}

/// The qform of a volume: `(quatern_b, c, d)`, `qfac` and `qoffset` (RAS). A direction matrix
/// that is not orthonormal is replaced by its nearest rotation (polar decomposition); a
/// left-handed one gives `qfac = −1`.
pub(super) fn qform_of(vol: &Volume) -> ([f64; 3], f64, [f64; 3]) {
    let m = ras_from_geometry(vol);
    // Rotation part in RAS: columns are the image axes' unit vectors.
    let mut r = [[0.0; 3]; 3];
    for (row, rrow) in r.iter_mut().enumerate() {
        for a in 0..3 {
            rrow[a] = m[row][a] / vol.spacing[a];
        }
    }
    let r = nearest_rotation(r);
    let (r, qfac) = if det3(&r) < 0.0 {
        let mut f = r;
        for row in f.iter_mut() {
            row[2] = -row[2];
        }
        (f, -1.0)
    } else {
        (r, 1.0)
    };
    (
        rotation_to_quaternion(&r),
        qfac,
        [m[0][3], m[1][3], m[2][3]],
    )
}

/// The orthogonal matrix nearest to `m` (Newton iteration `X ← (X + X⁻ᵀ)/2`), for an invertible
/// `m`; an orthonormal `m` is returned unchanged.
fn nearest_rotation(mut x: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    for _ in 0..30 {
        let det = det3(&x);
        if det.abs() < 1e-12 {
            break;
        }
        // Inverse transpose = cofactor matrix / det.
        let cof = |r: usize, c: usize| {
            let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
            let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
            x[r1][c1] * x[r2][c2] - x[r1][c2] * x[r2][c1]
        };
        let mut next = [[0.0; 3]; 3];
        let mut change: f64 = 0.0;
        for (r, nrow) in next.iter_mut().enumerate() {
            for (c, v) in nrow.iter_mut().enumerate() {
                *v = 0.5 * (x[r][c] + cof(r, c) / det);
                change = change.max((*v - x[r][c]).abs());
            }
        }
        x = next;
        if change < 1e-15 {
            break;
        }
    }
    x
}

/// The unit quaternion (b, c, d, with a ≥ 0) of a proper rotation matrix, choosing the largest
/// of 4a², 4b², 4c², 4d² as the pivot for accuracy.
pub(super) fn rotation_to_quaternion(r: &[[f64; 3]; 3]) -> [f64; 3] {
    let t = [
        1.0 + r[0][0] + r[1][1] + r[2][2],
        1.0 + r[0][0] - r[1][1] - r[2][2],
        1.0 - r[0][0] + r[1][1] - r[2][2],
        1.0 - r[0][0] - r[1][1] + r[2][2],
    ];
    let mut k = 0;
    for i in 1..4 {
        if t[i] > t[k] {
            k = i;
        }
    }
    let s = 0.5 * t[k].max(0.0).sqrt();
    let q = 0.25 / s;
    let (a, b, c, d) = match k {
        0 => (
            s,
            q * (r[2][1] - r[1][2]),
            q * (r[0][2] - r[2][0]),
            q * (r[1][0] - r[0][1]),
        ),
        1 => (
            q * (r[2][1] - r[1][2]),
            s,
            q * (r[0][1] + r[1][0]),
            q * (r[0][2] + r[2][0]),
        ),
        2 => (
            q * (r[0][2] - r[2][0]),
            q * (r[0][1] + r[1][0]),
            s,
            q * (r[1][2] + r[2][1]),
        ),
        _ => (
            q * (r[1][0] - r[0][1]),
            q * (r[0][2] + r[2][0]),
            q * (r[1][2] + r[2][1]),
            s,
        ),
    };
    if a < 0.0 { [-b, -c, -d] } else { [b, c, d] }
}
