//! Small geometric building blocks of the canonical anatomy: capsules, the distance to a
//! segment, diaphragm domes, and a smooth periodic texture.

use crate::tensor::Rng;

/// A capsule (segment with radius) in the mediastinum.
#[derive(Clone, Debug)]
pub struct Capsule {
    pub a: [f64; 3],
    pub b: [f64; 3],
    pub r: f64,
    /// Hounsfield value of its inside (`-1000` for the airway lumen).
    pub hu: f64,
}

impl Capsule {
    /// Distance from `q` to the capsule's axis segment.
    pub fn axis_dist(&self, q: [f64; 3]) -> f64 {
        seg_dist(self.a, self.b, q).0
    }
}

/// Distance from `q` to segment `ab` and the segment parameter of the closest point.
pub fn seg_dist(a: [f64; 3], b: [f64; 3], q: [f64; 3]) -> (f64, f64) {
    let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let aq = [q[0] - a[0], q[1] - a[1], q[2] - a[2]];
    let l2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
    let t = if l2 > 0.0 {
        ((aq[0] * ab[0] + aq[1] * ab[1] + aq[2] * ab[2]) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let d = [aq[0] - t * ab[0], aq[1] - t * ab[1], aq[2] - t * ab[2]];
    ((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt(), t)
}

/// A diaphragm dome: lung exists above `max(floor + rise·max(0, −y), peak − drop·ρ²)`, so
/// the costophrenic recesses reach lowest at the back and sides.
#[derive(Clone, Debug)]
pub struct Dome {
    pub centre: [f64; 2],
    pub radii: [f64; 2],
    pub peak: f64,
    pub drop: f64,
    pub floor: f64,
    pub rise: f64,
}

impl Dome {
    /// Height of the dome surface at (x, y).
    pub fn z(&self, x: f64, y: f64) -> f64 {
        let u = (x - self.centre[0]) / self.radii[0];
        let v = (y - self.centre[1]) / self.radii[1];
        (self.peak - self.drop * (u * u + v * v)).max(self.floor + self.rise * (-y).max(0.0))
    }
}

/// A smooth periodic random texture (unit variance), sampled trilinearly.
#[derive(Clone, Debug)]
pub struct Texture {
    v: Vec<f32>,
}

const TEX: usize = 32;

impl Texture {
    /// A new random texture.
    pub fn draw(rng: &mut Rng) -> Self {
        let mut v: Vec<f32> = (0..TEX * TEX * TEX).map(|_| rng.normal() as f32).collect();
        // Two passes of a 3-tap box blur along each axis (periodic) correlate neighbours.
        for _ in 0..2 {
            for stride in [1, TEX, TEX * TEX] {
                let src = v.clone();
                for (i, out) in v.iter_mut().enumerate() {
                    let c = (i / stride) % TEX;
                    let base = i - c * stride;
                    let prev = base + ((c + TEX - 1) % TEX) * stride;
                    let next = base + ((c + 1) % TEX) * stride;
                    *out = (src[prev] + src[i] + src[next]) / 3.0;
                }
            }
        }
        let var = v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32;
        let k = 1.0 / var.sqrt().max(1e-6);
        v.iter_mut().for_each(|x| *x *= k);
        Texture { v }
    }

    /// The texture at canonical `q` with lattice spacing `cell` mm.
    pub fn at(&self, q: [f64; 3], cell: f64) -> f64 {
        let mut i0 = [0usize; 3];
        let mut f = [0.0; 3];
        for a in 0..3 {
            let x = q[a] / cell;
            let fl = x.floor();
            f[a] = x - fl;
            i0[a] = (fl as i64).rem_euclid(TEX as i64) as usize;
        }
        let mut s = 0.0;
        for corner in 0..8 {
            let mut idx = 0;
            let mut w = 1.0;
            for a in (0..3).rev() {
                let bit = (corner >> a) & 1;
                idx = idx * TEX + (i0[a] + bit) % TEX;
                w *= if bit == 1 { f[a] } else { 1.0 - f[a] };
            }
            s += w * self.v[idx] as f64;
        }
        s
    }
}
