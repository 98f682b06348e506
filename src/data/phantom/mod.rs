//! The built-in phantom dataset (SPEC 5.5): procedural, seeded, chest-CT-like volumes in
//! Hounsfield units with lung masks, written in the LUNA16 layout, so that training runs on a
//! fresh machine with no downloaded data and registration has real work to do.
//!
//! Each subject is drawn from `(seed, index)` alone (see [`generate_subject`]): an anisotropic
//! grid of 128–160 × 128–160 voxels of 1.8–2.6 mm and 72–100 slices of 2.5–3.5 mm (some with
//! flipped x/y axes, as in LUNA16), a chest in a canonical frame — body with fat and muscle,
//! ribs, spine, sternum, mediastinum with heart, great vessels and trachea, two lungs with
//! textured parenchyma, branching vessels and airways, 0–3 solid nodules, a couch — seen
//! through a per-subject world → canonical map (translation, small yaw, breathing-like
//! scaling mostly cranio-caudal and antero-posterior, size variation and a smooth random
//! displacement of 5–15 mm). Scanner noise (≈ Gaussian, σ 10–20 HU) is added per voxel from a
//! hash of the voxel index, so results do not depend on the number of threads, and values are
//! rounded and clamped to [−1024, 3071]; outside the circular field of view they are −1024.
//!
//! Masks follow LUNA16's `seg-lungs-LUNA16`: 3 = right lung, 4 = left lung, and in about a
//! third of the subjects 5 = trachea and main bronchi.
//!
//! [`write_dataset`] writes the LUNA16 layout; see its docs for the files and the rules for
//! an existing output directory.

mod anatomy;
mod deform;
mod phases;
mod preview;
mod shapes;
mod subject;
mod tissue;
mod trees;
mod tubes;
mod write;

#[cfg(test)]
mod tests;

pub use deform::{Deformation, Wave};
pub use phases::{BIFURCATION_LANDMARKS, LUNG_LANDMARKS, phase_id, subject_landmarks};
pub use preview::axial_png;
pub use write::{NoduleRecord, PhantomManifest, SubjectRecord, write_dataset};

use crate::data::error::{DataError, DataResult};
use crate::data::volume::Volume;
use rayon::prelude::*;
use std::path::PathBuf;
use subject::{Subject, mix};
use tissue::Tissue;

/// The generator's name and version, recorded in `phantom.json`. The version changes whenever
/// the same configuration would produce different volumes.
pub const GENERATOR: &str = "voxflow-phantom";
/// See [`GENERATOR`].
pub const GENERATOR_VERSION: u32 = 1;

/// Mask label of the right lung (side 0, world x < 0 in LPS).
pub const LABEL_RIGHT_LUNG: u8 = 3;
/// Mask label of the left lung.
pub const LABEL_LEFT_LUNG: u8 = 4;
/// Mask label of the trachea and main bronchi, in the subjects whose masks carry it.
pub const LABEL_AIRWAY: u8 = 5;

/// How to make a phantom dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct PhantomConfig {
    /// Number of subjects (1–10000; default 24).
    pub n: usize,
    /// Seed; equal seeds give bitwise equal datasets (default 0).
    pub seed: u64,
    /// Number of `subset{k}` directories the subjects are spread over, round robin (1–10;
    /// default 3).
    pub subsets: usize,
    /// Multiplies the number of voxels along each axis, keeping the physical extent (0.1–2;
    /// default 1). Small values make tiny datasets for tests.
    pub grid_scale: f64,
    /// Scans per subject, each at its own breathing state (1–10; default 1): phase 0 is the
    /// subject's id, phase `p` its id with `_p{p}` ([`phase_id`]); pairs of one subject's
    /// phases are intra-patient registration problems with a known answer (the landmarks).
    pub phases: usize,
}

impl Default for PhantomConfig {
    fn default() -> Self {
        PhantomConfig {
            n: 24,
            seed: 0,
            subsets: 3,
            grid_scale: 1.0,
            phases: 1,
        }
    }
}

impl PhantomConfig {
    /// Checks the ranges documented on the fields.
    pub fn validate(&self) -> DataResult<()> {
        let bad = |what: String| Err(DataError::Dataset(format!("phantom configuration: {what}")));
        if !(1..=10_000).contains(&self.n) {
            return bad(format!("n must be 1..=10000, got {}", self.n));
        }
        if !(1..=10).contains(&self.subsets) {
            return bad(format!("subsets must be 1..=10, got {}", self.subsets));
        }
        if !(1..=10).contains(&self.phases) {
            return bad(format!("phases must be 1..=10, got {}", self.phases));
        }
        if !(self.grid_scale.is_finite() && (0.1..=2.0).contains(&self.grid_scale)) {
            return bad(format!(
                "grid_scale must be in [0.1, 2], got {}",
                self.grid_scale
            ));
        }
        Ok(())
    }
}

/// What [`write_dataset`] did.
#[derive(Clone, Debug)]
pub struct PhantomSummary {
    /// The output directory.
    pub out: PathBuf,
    /// One entry per subject, in index order.
    pub subjects: Vec<SubjectSummary>,
    /// Bytes written by this call (0 when the dataset was already complete).
    pub bytes_written: u64,
    /// True when the directory already held this dataset and nothing was written.
    pub reused: bool,
}

/// One subject of a [`PhantomSummary`].
#[derive(Clone, Debug)]
pub struct SubjectSummary {
    /// The LUNA16-style id (file stem).
    pub id: String,
    /// The `subset{k}` directory holding the image.
    pub subset: usize,
    /// Array shape `[D, H, W]`.
    pub dims: [usize; 3],
    /// Voxel size in mm along x, y, z.
    pub spacing: [f64; 3],
    /// Whether the x and y direction cosines are −1.
    pub flipped: [bool; 2],
    /// Number of nodules.
    pub nodules: usize,
    /// Whether the mask carries label 5 (airway).
    pub airway_labelled: bool,
    /// Size of the subject's four files in bytes.
    pub bytes: u64,
    /// False when the files were already there and kept.
    pub written: bool,
}

/// Generates subject `index` of the dataset `cfg` describes, in memory: the image (HU) and
/// its lung mask on the same grid. The result depends only on `cfg.seed`, `cfg.grid_scale`
/// and `index` — not on `cfg.n`, other subjects or the number of threads.
pub fn generate_subject(cfg: &PhantomConfig, index: usize) -> DataResult<(Volume, Volume)> {
    cfg.validate()?;
    let (image, mask, _) = render(&Subject::draw(cfg, index));
    Ok((image, mask))
}

/// Generates phase `phase` of subject `index` (see [`phase_id`]; phase 0 is
/// [`generate_subject`]'s scan) and its landmarks in world mm (LPS), row `i` of every phase of
/// the subject being the same anatomical point.
pub fn generate_phase(
    cfg: &PhantomConfig,
    index: usize,
    phase: usize,
) -> DataResult<(Volume, Volume, Vec<[f64; 3]>)> {
    cfg.validate()?;
    let s = phases::draw_phase(cfg, index, phase);
    let (image, mask, _) = render(&s);
    Ok((image, mask, phases::world_landmarks(cfg, &s)))
}

/// The true map between two phases of subject `index`: world point `p` of phase `from` to the
/// world point of phase `to` at the same place of the anatomy (through the canonical frame).
/// A registration of phase `to` (moving) onto phase `from` (fixed) is perfect when it equals
/// this map.
pub fn phase_map(
    cfg: &PhantomConfig,
    index: usize,
    from: usize,
    to: usize,
) -> impl Fn([f64; 3]) -> [f64; 3] + Sync + use<> {
    let (a, b) = (
        phases::draw_phase(cfg, index, from).deform,
        phases::draw_phase(cfg, index, to).deform,
    );
    move |p| b.to_world(a.to_canonical(p))
}

/// Noise deviate for voxel `i`: a sum of four 16-bit uniforms from a hash (Irwin–Hall),
/// rescaled to zero mean and unit variance — close to Gaussian, bounded by ±3.5.
fn noise(key: u64, i: usize) -> f64 {
    let h = mix(key ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let s: u64 = (0..4).map(|k| (h >> (16 * k)) & 0xFFFF).sum();
    (s as f64 / 65536.0 - 2.0) * 3f64.sqrt()
}

/// Renders a subject: image, mask and the tissue class of every voxel.
fn render(s: &Subject) -> (Volume, Volume, Vec<Tissue>) {
    let [d, h, w] = s.dims;
    let coords = s.axis_coords();
    let tables = s.deform.tables([&coords[0], &coords[1], &coords[2]]);
    let yaw = s.deform.yaw_deg.to_radians().sin_cos();
    let centre = (w as f64 - 1.0) / 2.0;
    let fov2 = (w as f64 / 2.0).powi(2);
    let mut img = vec![0f32; d * h * w];
    let mut mask = vec![0f32; d * h * w];
    let mut classes = vec![Tissue::OutsideFov; d * h * w];
    img.par_chunks_mut(h * w)
        .zip(mask.par_chunks_mut(h * w))
        .zip(classes.par_chunks_mut(h * w))
        .enumerate()
        .for_each(|(k, ((im, ma), cl))| {
            let mut row = Vec::new();
            for j in 0..h {
                tables.row(k, j, &mut row);
                for i in 0..w {
                    let idx = j * w + i;
                    let r2 = (i as f64 - centre).powi(2) + (j as f64 - centre).powi(2);
                    if r2 > fov2 {
                        im[idx] = -1024.0;
                        continue;
                    }
                    let p = [coords[0][i], coords[1][j], coords[2][k]];
                    let q = s.deform.canonical_yaw(p, tables.at(&row, i), yaw);
                    let (hu, label, class) = s.sample(p, q);
                    let n = noise(s.noise_key, k * h * w + idx);
                    im[idx] = (hu + s.noise_sigma * n).round().clamp(-1024.0, 3071.0) as f32;
                    ma[idx] = label as f32;
                    cl[idx] = class;
                }
            }
        });
    let geometry = |data: Vec<f32>| Volume {
        data,
        dims: s.dims,
        spacing: s.spacing,
        origin: s.origin,
        direction: s.direction(),
    };
    (geometry(img), geometry(mask), classes)
}
