//! The per-subject map from world coordinates (LPS mm) to the canonical anatomy frame: a
//! translation, a small yaw, breathing-like scaling about an anchor (the lung apex height and
//! the spine, so the chest expands anteriorly and the lungs downwards), and a smooth random
//! displacement made of a few separable low-frequency waves.
//!
//! Anatomy is described once in the canonical frame; each voxel's world position `p` is sent
//! to `q = G(p)` and the anatomy is evaluated at `q`. Because every wave is a product of three
//! one-dimensional factors and the grid's direction matrix is diagonal, the voxel loop uses
//! per-axis tables ([`WaveTables`]) instead of evaluating cosines per voxel.

use crate::tensor::Rng;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;

/// One displacement component: `amplitude · Π_a cos(2π (p_a − t_a) / λ_a + φ_a)` added to the
/// canonical coordinate `axis`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wave {
    /// The canonical axis displaced (0 = x, 1 = y, 2 = z).
    pub axis: usize,
    /// Peak displacement in mm (signed).
    pub amplitude_mm: f64,
    /// Wavelength along world x, y and z in mm.
    pub wavelength_mm: [f64; 3],
    /// Phase along x, y and z in radians.
    pub phase: [f64; 3],
}

impl Wave {
    fn factor(&self, a: usize, rel: f64) -> f64 {
        (TAU * rel / self.wavelength_mm[a] + self.phase[a]).cos()
    }
}

/// The world → canonical map of one subject (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deformation {
    /// World position (mm) of the canonical origin before scaling and displacement.
    pub translation_mm: [f64; 3],
    /// Rotation about the cranio-caudal axis, degrees.
    pub yaw_deg: f64,
    /// Canonical point left fixed by the breathing scale.
    pub anchor_mm: [f64; 3],
    /// Breathing-like scale along x, y, z (world size / canonical size).
    pub scale: [f64; 3],
    /// The smooth displacement components.
    pub waves: Vec<Wave>,
}

impl Deformation {
    /// Draws the waves: two per canonical axis, wavelengths 280–600 mm, with an overall
    /// amplitude of 5–15 mm shared among them. The gradient of the displacement stays well
    /// below 1, so the map is invertible.
    pub fn draw_waves(rng: &mut Rng) -> Vec<Wave> {
        let total = 5.0 + 10.0 * rng.uniform();
        let mut waves = Vec::new();
        for axis in 0..3 {
            for _ in 0..2 {
                let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
                let amplitude_mm = sign * total * (0.35 + 0.3 * rng.uniform());
                let wavelength_mm = [0; 3].map(|_| 280.0 + 320.0 * rng.uniform());
                let phase = [0; 3].map(|_| TAU * rng.uniform());
                waves.push(Wave {
                    axis,
                    amplitude_mm,
                    wavelength_mm,
                    phase,
                });
            }
        }
        waves
    }

    /// The displacement `u(p)` at world position `p`.
    pub fn displacement(&self, p: [f64; 3]) -> [f64; 3] {
        let mut u = [0.0; 3];
        for w in &self.waves {
            let mut f = w.amplitude_mm;
            for (a, pa) in p.iter().enumerate() {
                f *= w.factor(a, pa - self.translation_mm[a]);
            }
            u[w.axis] += f;
        }
        u
    }

    /// `G(p)` given the displacement `u = u(p)` (the voxel loop gets `u` from tables).
    pub fn canonical_with(&self, p: [f64; 3], u: [f64; 3]) -> [f64; 3] {
        self.canonical_yaw(p, u, self.yaw_deg.to_radians().sin_cos())
    }

    /// [`Deformation::canonical_with`] with the yaw's `(sin, cos)` precomputed.
    pub fn canonical_yaw(&self, p: [f64; 3], u: [f64; 3], (s, c): (f64, f64)) -> [f64; 3] {
        let d = [
            p[0] - self.translation_mm[0],
            p[1] - self.translation_mm[1],
            p[2] - self.translation_mm[2],
        ];
        let r = [c * d[0] - s * d[1], s * d[0] + c * d[1], d[2]];
        let mut q = [0.0; 3];
        for a in 0..3 {
            let k = self.anchor_mm[a];
            q[a] = k + (r[a] - k) / self.scale[a] + u[a];
        }
        q
    }

    /// The canonical position of world point `p`.
    pub fn to_canonical(&self, p: [f64; 3]) -> [f64; 3] {
        self.canonical_with(p, self.displacement(p))
    }

    /// The world position whose canonical position is `q` (fixed-point iteration; the map's
    /// displacement gradient is small, so it converges in a few dozen steps).
    pub fn to_world(&self, q: [f64; 3]) -> [f64; 3] {
        let (s, c) = self.yaw_deg.to_radians().sin_cos();
        let mut p = self.translation_mm;
        for _ in 0..100 {
            let u = self.displacement(p);
            let mut r = [0.0; 3];
            for a in 0..3 {
                let k = self.anchor_mm[a];
                r[a] = k + self.scale[a] * (q[a] - u[a] - k);
            }
            // Inverse yaw: d = Rᵀ r.
            let next = [
                self.translation_mm[0] + c * r[0] + s * r[1],
                self.translation_mm[1] - s * r[0] + c * r[1],
                self.translation_mm[2] + r[2],
            ];
            let step: f64 = next.iter().zip(&p).map(|(a, b)| (a - b).abs()).sum();
            p = next;
            if step < 1e-9 {
                break;
            }
        }
        p
    }

    /// Per-axis factor tables for the world coordinates of a grid's columns, rows and slices.
    pub fn tables(&self, coords: [&[f64]; 3]) -> WaveTables {
        let mut t: [Vec<f64>; 3] = Default::default();
        for (a, ta) in t.iter_mut().enumerate() {
            for w in &self.waves {
                let amp = if a == 2 { w.amplitude_mm } else { 1.0 };
                ta.extend(
                    coords[a]
                        .iter()
                        .map(|&p| amp * w.factor(a, p - self.translation_mm[a])),
                );
            }
        }
        WaveTables {
            len: coords.map(|c| c.len()),
            axes: self.waves.iter().map(|w| w.axis).collect(),
            t,
        }
    }
}

/// Precomputed wave factors along each grid axis (the z table carries the amplitude).
pub struct WaveTables {
    len: [usize; 3],
    axes: Vec<usize>,
    t: [Vec<f64>; 3],
}

impl WaveTables {
    /// Products of the z and y factors for slice `k`, row `j`, one per wave.
    pub fn row(&self, k: usize, j: usize, out: &mut Vec<f64>) {
        out.clear();
        for w in 0..self.axes.len() {
            out.push(self.t[2][w * self.len[2] + k] * self.t[1][w * self.len[1] + j]);
        }
    }

    /// The displacement at column `i` of a row prepared by [`WaveTables::row`].
    pub fn at(&self, row: &[f64], i: usize) -> [f64; 3] {
        let mut u = [0.0; 3];
        for (w, (&axis, &zy)) in self.axes.iter().zip(row).enumerate() {
            u[axis] += zy * self.t[0][w * self.len[0] + i];
        }
        u
    }
}
