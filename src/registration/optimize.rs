//! Instance optimization (SPEC section 11): the registration of one pair found by gradient
//! descent on the engine, coarse to fine, in physical space.
//!
//! The transform maps a fixed point `p` (world mm) to `A(p) + u(p)`: an affine map `A` about
//! the fixed image's centre, and a dense displacement `u` on a working grid that covers the
//! fixed image's box. Each pyramid level resamples both images (smoothed against aliasing,
//! intensities scaled to their 1st–99th percentiles) to its spacing, each in its own frame:
//! the moving image is sampled through its own voxel ↔ world map, so any two scans work
//! (different origins, fields of view, spacings, orientations, flips).
//!
//! 1. Affine stage, on the coarsest level: the 12 parameters by Adam on the similarity, from
//!    an initial translation that aligns the images' intensity centres of mass.
//! 2. Dense stage, every level: `u` by Adam on the similarity, each step followed by a
//!    Gaussian smoothing of `u` (the diffusion-like regularization of demons; it keeps the map
//!    smooth and, with steps well below a voxel, free of folding). `u` carries over from level
//!    to level by trilinear interpolation.
//!
//! [`refine`] starts from a given solution (a network's prediction) instead: no affine stage,
//! the dense stage from the prediction's displacement.
//!
//! Everything that depends on the voxels runs through the engine's differentiable ops
//! (`dense` for the affine part, `grid_sample` for the moving image, the losses), so the same
//! code runs on the CPU and on a GPU; the smoothing of `u` between steps is host code.
//! Deterministic: same inputs, same result.

use super::field::DisplacementField;
use super::grid::{Grid, gaussian_smooth, resample_onto, robust_scale};
use crate::autograd::Tape;
use crate::data::volume::Volume;
use crate::error::Result;
use crate::nn::{Adam, AdamConfig, ParamStore};
use crate::ops::{self, LossKind, Padding};
use crate::tensor::{Device, Tensor};

/// The similarity the optimization maximizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Similarity {
    /// Mean squared difference of the scaled intensities (same modality).
    Mse,
    /// Global normalized cross-correlation.
    Ncc,
    /// Local normalized cross-correlation in a 5³ window (robust to intensity drift).
    Lncc,
}

impl Similarity {
    fn loss(self) -> LossKind {
        match self {
            Similarity::Mse => LossKind::Mse,
            Similarity::Ncc => LossKind::Ncc,
            Similarity::Lncc => LossKind::Lncc { window: 5 },
        }
    }
}

/// How to optimize.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizeOptions {
    /// Working spacings of the pyramid levels in mm, coarse to fine (a level never goes finer
    /// than the fixed image's own spacing along an axis).
    pub levels_mm: Vec<f64>,
    /// Adam steps of the affine stage (on the coarsest level); 0 keeps the initial alignment.
    pub affine_iterations: usize,
    /// Adam steps of the dense stage on each level (as many entries as `levels_mm`).
    pub dense_iterations: Vec<usize>,
    /// Adam's step for the affine parameters (translation in mm per step; the linear part in
    /// hundredths).
    pub affine_lr: f32,
    /// Adam's step for the displacement, in mm.
    pub dense_lr: f32,
    /// The displacement's control points are this many working voxels apart (trilinear in
    /// between): a coarser control grid regularizes more and converges faster.
    pub control_voxels: f64,
    /// Standard deviation of the displacement's smoothing after each step, in control-grid
    /// voxels.
    pub smooth_voxels: f64,
    /// The share of the working voxels the similarity is computed on (1: all): those where the
    /// fixed image's gradient is largest, as ITK's sampled metrics do. Ignored for lncc, which
    /// needs whole neighbourhoods.
    pub sample_fraction: f64,
    pub similarity: Similarity,
    pub device: Device,
}

/// The defaults were chosen on the phantom's breathing-phase pairs at native resolution
/// (docs/accuracy.md has the runs): levels 6 and 3 mm with 60 and 30 dense steps (the fine
/// level's steps cost most; beyond 30 they gain 0.02 mm), control points 4 voxels apart, Adam
/// steps of 2 mm with a 0.5-voxel smoothing, the similarity on the 30% of voxels where the
/// fixed image's gradient is largest.
impl Default for OptimizeOptions {
    fn default() -> Self {
        OptimizeOptions {
            levels_mm: vec![6.0, 3.0],
            affine_iterations: 80,
            dense_iterations: vec![60, 30],
            affine_lr: 1.0,
            dense_lr: 2.0,
            control_voxels: 4.0,
            smooth_voxels: 0.5,
            sample_fraction: 0.3,
            similarity: Similarity::Mse,
            device: Device::Cpu,
        }
    }
}

/// An affine map of world points about `centre`: `p ↦ centre + ph·theta` with the row
/// `ph = [(p − centre)/100, 1]`, so `theta`'s first three rows are `100·Aᵀ` and its last the
/// translation in mm.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    pub centre: [f64; 3],
    pub theta: [[f64; 3]; 4],
}

impl Affine {
    /// The identity about `centre`, shifted by `t` mm.
    pub fn translation(centre: [f64; 3], t: [f64; 3]) -> Affine {
        Affine {
            centre,
            theta: [[100.0, 0.0, 0.0], [0.0, 100.0, 0.0], [0.0, 0.0, 100.0], t],
        }
    }

    /// The image of world point `p`.
    pub fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        let ph = [
            (p[0] - self.centre[0]) / 100.0,
            (p[1] - self.centre[1]) / 100.0,
            (p[2] - self.centre[2]) / 100.0,
            1.0,
        ];
        [0, 1, 2].map(|c| self.centre[c] + (0..4).map(|r| ph[r] * self.theta[r][c]).sum::<f64>())
    }

    /// The affine map `m` (any map that is affine, evaluated at `centre` and one millimetre
    /// along each axis from it) about `centre`.
    pub fn from_map(centre: [f64; 3], m: impl Fn([f64; 3]) -> [f64; 3]) -> Affine {
        let at_c = m(centre);
        let mut theta = [[0.0; 3]; 4];
        for (r, row) in theta.iter_mut().take(3).enumerate() {
            let mut p = centre;
            p[r] += 1.0;
            let q = m(p);
            for c in 0..3 {
                row[c] = 100.0 * (q[c] - at_c[c]);
            }
        }
        theta[3] = [0, 1, 2].map(|c| at_c[c] - centre[c]);
        Affine { centre, theta }
    }

    fn flat(&self) -> Vec<f32> {
        self.theta.iter().flatten().map(|&v| v as f32).collect()
    }

    fn from_flat(centre: [f64; 3], v: &[f32]) -> Affine {
        let mut theta = [[0.0; 3]; 4];
        for (r, row) in theta.iter_mut().enumerate() {
            for (c, x) in row.iter_mut().enumerate() {
                *x = v[3 * r + c] as f64;
            }
        }
        Affine { centre, theta }
    }
}

/// What the optimization found: `p ↦ affine(p) + prior(p) + dense(p)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    pub affine: Affine,
    /// A network's displacement (its prediction, before any refinement), world mm, trilinear
    /// between its voxels; `None`: zero. [`refine`] folds it into `dense`.
    pub prior: Option<DisplacementField>,
    /// The dense displacement at the finest level's control points (world mm), trilinear in
    /// between.
    pub dense: DisplacementField,
}

impl Solution {
    /// Where fixed point `p` goes in the moving image.
    pub fn map_point(&self, p: [f64; 3]) -> [f64; 3] {
        let a = self.affine.apply(p);
        let u = self.dense.sample(p);
        let v = self.prior.as_ref().map_or([0.0; 3], |f| f.sample(p));
        [0, 1, 2].map(|c| a[c] + u[c] + v[c])
    }

    /// The whole transform as a displacement field on `grid` (the fixed image's, typically).
    pub fn displacement_on(&self, grid: &Grid) -> DisplacementField {
        DisplacementField::from_fn(grid.clone(), |p| {
            let q = self.map_point(p);
            [q[0] - p[0], q[1] - p[1], q[2] - p[2]]
        })
    }
}

/// One step of the optimization, for progress reports.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// `"affine"` or `"dense"`.
    pub stage: &'static str,
    /// The level's working spacing in mm.
    pub level_mm: f64,
    /// 1-based step within the stage and level, of `of`.
    pub iteration: usize,
    pub of: usize,
    pub loss: f32,
}

/// The images of a pair and an optional fixed mask restricting the similarity.
pub struct Pair<'a> {
    pub fixed: &'a Volume,
    pub moving: &'a Volume,
    pub fixed_mask: Option<&'a Volume>,
}

/// One pyramid level on the device.
struct Level {
    grid: Grid,
    voxels: usize,
    fixed: Tensor,
    weight: Option<Tensor>,
    /// `[(p − c)/100, 1]` of every voxel, `[V, 4]`.
    ph: Tensor,
    moving: Tensor,
    /// World (relative to the centre) → moving voxel index: `[3, 3]` and `[3]`.
    to_moving: (Tensor, Tensor),
    /// The control grid of the displacement and every working voxel's place in it
    /// (`[1, D, H, W, 3]`, control voxel units).
    ctrl: Grid,
    ctrl_coords: Tensor,
    /// The shape the sampled voxels are laid out in: the grid's `[D, H, W]`, or `[P, 1, 1]`
    /// for a subset of `P` voxels.
    out_dims: [usize; 3],
}

/// The `fraction` of `fixed`'s voxels with the largest gradient (central differences), in
/// ascending index order; `None` for all of them.
fn sampled_voxels(fixed: &Volume, fraction: f64) -> Option<Vec<usize>> {
    if fraction >= 1.0 {
        return None;
    }
    let [d, h, w] = fixed.dims;
    let at = |z: usize, y: usize, x: usize| fixed.data[(z * h + y) * w + x];
    let diff = |a: f32, b: f32| (a - b) * (a - b);
    let mut score: Vec<(f32, usize)> = (0..d * h * w)
        .map(|i| {
            let (z, y, x) = (i / (h * w), i / w % h, i % w);
            let g = diff(at(z, y, (x + 1).min(w - 1)), at(z, y, x.saturating_sub(1)))
                + diff(at(z, (y + 1).min(h - 1), x), at(z, y.saturating_sub(1), x))
                + diff(at((z + 1).min(d - 1), y, x), at(z.saturating_sub(1), y, x));
            (g, i)
        })
        .collect();
    let keep = ((fraction.max(0.0) * score.len() as f64).ceil() as usize).clamp(1, score.len());
    score.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut idx: Vec<usize> = score[..keep].iter().map(|p| p.1).collect();
    idx.sort_unstable();
    Some(idx)
}

/// `v`'s rows (`k` values each) at `idx`, or all of `v`.
fn gather<T: Copy>(v: Vec<T>, k: usize, idx: Option<&[usize]>) -> Vec<T> {
    match idx {
        None => v,
        Some(idx) => idx
            .iter()
            .flat_map(|&i| v[k * i..k * (i + 1)].iter().copied())
            .collect(),
    }
}

/// The pair at working spacing `s`.
fn level(
    pair: &Pair,
    scaled: (&Volume, &Volume),
    (s, control, fraction): (f64, f64, f64),
    centre: [f64; 3],
    dev: Device,
) -> Result<Level> {
    let grid = Grid::of(pair.fixed).at_spacing(s);
    let smooth = |v: &Volume| gaussian_smooth(v, 0.4 * s);
    let fixed = resample_onto(&smooth(scaled.0), &grid, 0.0);
    let mgrid = Grid::of(pair.moving).at_spacing(s);
    let moving = resample_onto(&smooth(scaled.1), &mgrid, 0.0);
    let idx = sampled_voxels(&fixed, fraction);
    let idx = idx.as_deref();
    let voxels = idx.map_or(grid.len(), <[usize]>::len);
    let out_dims = match idx {
        Some(_) => [voxels, 1, 1],
        None => grid.dims,
    };
    let [d, h, w] = out_dims;
    let ph: Vec<[f32; 4]> = grid.map_points(|_, p| {
        [0, 1, 2, 3].map(|k| {
            if k == 3 {
                1.0
            } else {
                ((p[k] - centre[k]) / 100.0) as f32
            }
        })
    });
    let weight = match pair.fixed_mask {
        Some(m) => {
            let src = Grid::of(m);
            let data = grid.map_points(|_, p| {
                let v = super::grid::nearest(m, src.world_to_voxel(p), 0.0);
                if v > 0.0 { 1.0 } else { 0.0 }
            });
            Some(Tensor::from_vec(
                gather(data, 1, idx),
                [1, d, h, w, 1],
                dev,
            )?)
        }
        None => None,
    };
    // c_a = Σ_w D[a][w]·(q_w + centre_w − origin_w) / s_a for q = p − centre.
    let mut wm = vec![0f32; 9];
    let mut bm = vec![0f32; 3];
    for a in 0..3 {
        for k in 0..3 {
            let r = mgrid.direction[a][k] / mgrid.spacing[a];
            wm[3 * k + a] = r as f32;
            bm[a] += (r * (centre[k] - mgrid.origin[k])) as f32;
        }
    }
    let [md, mh, mw] = mgrid.dims;
    let ctrl = Grid::of(pair.fixed).at_spacing(s * control);
    let cc: Vec<[f32; 3]> = grid.map_points(|_, p| ctrl.world_to_voxel(p).map(|c| c as f32));
    let cc = gather(cc.into_iter().flatten().collect(), 3, idx);
    let ph = gather(ph.into_iter().flatten().collect(), 4, idx);
    Ok(Level {
        ctrl_coords: Tensor::from_vec(cc, [1, d, h, w, 3], dev)?,
        out_dims,
        ctrl,
        voxels,
        fixed: Tensor::from_vec(gather(fixed.data, 1, idx), [1, d, h, w, 1], dev)?,
        weight,
        ph: Tensor::from_vec(ph, [voxels, 4], dev)?,
        moving: Tensor::from_vec(moving.data, [1, md, mh, mw, 1], dev)?,
        to_moving: (
            Tensor::from_vec(wm, [3, 3], dev)?,
            Tensor::from_vec(bm, [3], dev)?,
        ),
        grid,
    })
}

impl Level {
    /// The similarity loss of the transform `theta` (`[4, 3]`) plus the displacement whose
    /// control points are `u` (`[1, Dc, Hc, Wc, 3]`; none: zero).
    fn loss(&self, theta: &Tensor, u: Option<&Tensor>, kind: LossKind) -> Result<Tensor> {
        let mut q = ops::dense(&self.ph, theta)?;
        if let Some(u) = u {
            let fine = ops::grid_sample(u, &self.ctrl_coords, Padding::Border)?;
            q = ops::add(&q, &fine.reshape([self.voxels, 3])?)?;
        }
        let c = ops::bias_add(&ops::dense(&q, &self.to_moving.0)?, &self.to_moving.1)?;
        let [d, h, w] = self.out_dims;
        let warped = ops::grid_sample(&self.moving, &c.reshape([1, d, h, w, 3])?, Padding::Zeros)?;
        match &self.weight {
            Some(m) => ops::loss(kind, &ops::mul(&warped, m)?, &ops::mul(&self.fixed, m)?),
            None => ops::loss(kind, &warped, &self.fixed),
        }
    }
}

/// The translation that moves the fixed image's intensity centre of mass onto the moving's.
fn centre_of_mass_shift(fixed: &Volume, moving: &Volume) -> [f64; 3] {
    let com = |v: &Volume| {
        let g = Grid::of(v);
        let (mut acc, mut total) = ([0.0f64; 3], 0.0f64);
        let [d, h, w] = v.dims;
        for z in (0..d).step_by(2) {
            for y in (0..h).step_by(2) {
                for x in (0..w).step_by(2) {
                    let m = v.at(z, y, x).max(0.0) as f64;
                    if m > 0.0 {
                        let p = g.voxel_to_world([x as f64, y as f64, z as f64]);
                        (0..3).for_each(|k| acc[k] += m * p[k]);
                        total += m;
                    }
                }
            }
        }
        if total > 0.0 {
            acc.map(|a| a / total)
        } else {
            g.centre()
        }
    };
    let (f, m) = (com(fixed), com(moving));
    [m[0] - f[0], m[1] - f[1], m[2] - f[2]]
}

/// Registers `pair.moving` to `pair.fixed` as the module docs describe. `progress` sees every
/// step and stops the optimization early by returning false (the solution so far is returned).
pub fn optimize(
    pair: &Pair,
    opts: &OptimizeOptions,
    progress: &mut dyn FnMut(&Step) -> bool,
) -> Result<Solution> {
    optimize_from(pair, opts, None, progress)
}

/// Refines `start` (a network's prediction, typically): its affine part is kept and the affine
/// stage skipped; its prior and dense part, summed on the first level's control grid, start
/// the dense stage. With no dense iterations the result is `start` itself.
pub fn refine(
    pair: &Pair,
    opts: &OptimizeOptions,
    start: &Solution,
    progress: &mut dyn FnMut(&Step) -> bool,
) -> Result<Solution> {
    optimize_from(pair, opts, Some(start), progress)
}

fn optimize_from(
    pair: &Pair,
    opts: &OptimizeOptions,
    start: Option<&Solution>,
    progress: &mut dyn FnMut(&Step) -> bool,
) -> Result<Solution> {
    check_options(opts)?;
    let dev = opts.device;
    let (fs, ms) = (robust_scale(pair.fixed), robust_scale(pair.moving));
    // From a start, its prior (a network's displacement) joins the dense part: sampled onto
    // the first level's control grid, then optimized and smoothed with it, which also smooths
    // away the network's small folds.
    let (mut affine, mut absorb, mut dense) = match start {
        Some(s) => (s.affine.clone(), s.prior.clone(), Some(s.dense.clone())),
        None => {
            let centre = Grid::of(pair.fixed).centre();
            let shift = centre_of_mass_shift(&fs, &ms);
            (Affine::translation(centre, shift), None, None)
        }
    };
    if let Some(s) = start
        && opts.dense_iterations.iter().all(|&n| n == 0)
    {
        return Ok(s.clone());
    }
    let centre = affine.centre;
    let kind = opts.similarity.loss();
    for (li, (&s, &iters)) in opts
        .levels_mm
        .iter()
        .zip(&opts.dense_iterations)
        .enumerate()
    {
        let fraction = match opts.similarity {
            Similarity::Lncc => 1.0,
            _ => opts.sample_fraction,
        };
        let lv = level(
            pair,
            (&fs, &ms),
            (s, opts.control_voxels, fraction),
            centre,
            dev,
        )?;
        if li == 0 && start.is_none() && opts.affine_iterations > 0 {
            let go = optimize_affine(&lv, &mut affine, opts, kind, progress)?;
            if !go {
                break;
            }
        }
        let from = match &dense {
            Some(prev) => DisplacementField::from_fn(lv.ctrl.clone(), |p| {
                let (a, b) = (
                    prev.sample(p),
                    absorb.as_ref().map_or([0.0; 3], |f| f.sample(p)),
                );
                [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
            }),
            None => DisplacementField::zeros(lv.ctrl.clone()),
        };
        absorb = None;
        let (field, go) = optimize_dense(&lv, &affine, from, (s, iters), opts, progress)?;
        dense = Some(field);
        if !go {
            break;
        }
    }
    let dense = match dense {
        Some(d) => d,
        None => DisplacementField::zeros(
            Grid::of(pair.fixed).at_spacing(opts.levels_mm[0] * opts.control_voxels),
        ),
    };
    Ok(Solution {
        affine,
        prior: None,
        dense,
    })
}

fn check_options(opts: &OptimizeOptions) -> Result<()> {
    let bad = |msg: String| {
        Err(crate::Error::Invalid {
            op: "optimize",
            msg,
        })
    };
    if opts.levels_mm.is_empty() || opts.levels_mm.len() != opts.dense_iterations.len() {
        return bad(format!(
            "{} levels but {} dense iteration counts: give one count per level",
            opts.levels_mm.len(),
            opts.dense_iterations.len()
        ));
    }
    if let Some(s) = opts
        .levels_mm
        .iter()
        .find(|s| !(s.is_finite() && **s > 0.0))
    {
        return bad(format!("level spacing {s} mm is not a positive number"));
    }
    if !(opts.control_voxels.is_finite() && opts.control_voxels >= 1.0) {
        return bad(format!(
            "control points {} voxels apart: give 1 or more",
            opts.control_voxels
        ));
    }
    if !(opts.sample_fraction > 0.0 && opts.sample_fraction <= 1.0) {
        return bad(format!(
            "sample fraction {} is not in (0, 1]",
            opts.sample_fraction
        ));
    }
    if !(opts.smooth_voxels.is_finite() && opts.smooth_voxels >= 0.0) {
        return bad(format!(
            "smoothing {} voxels is negative",
            opts.smooth_voxels
        ));
    }
    Ok(())
}

/// The affine stage: Adam on `theta` with the dense part at zero.
fn optimize_affine(
    lv: &Level,
    affine: &mut Affine,
    opts: &OptimizeOptions,
    kind: LossKind,
    progress: &mut dyn FnMut(&Step) -> bool,
) -> Result<bool> {
    let dev = opts.device;
    let mut store = ParamStore::new();
    store.insert("theta", Tensor::from_vec(affine.flat(), [4, 3], dev)?, true)?;
    let mut adam = Adam::new(AdamConfig {
        lr: opts.affine_lr,
        decay: 0.0,
        ..AdamConfig::default()
    });
    let mut go = true;
    for it in 0..opts.affine_iterations {
        let tape = Tape::new();
        let p = store.bind(&tape, true);
        let loss = lv.loss(&p.get("theta")?, None, kind)?;
        let value = loss.to_scalar()?;
        let grads = p.grads(&mut tape.backward(&loss)?);
        drop(p);
        adam.step(&mut store, &grads)?;
        let step = Step {
            stage: "affine",
            level_mm: lv.grid.spacing[0],
            iteration: it + 1,
            of: opts.affine_iterations,
            loss: value,
        };
        if !progress(&step) {
            go = false;
            break;
        }
    }
    *affine = Affine::from_flat(affine.centre, &store.get("theta")?.value.to_vec()?);
    Ok(go)
}

/// The dense stage on one level: Adam on the control points `u` (`start`, on the level's
/// control grid), each step followed by their Gaussian smoothing.
fn optimize_dense(
    lv: &Level,
    affine: &Affine,
    start: DisplacementField,
    (s, iters): (f64, usize),
    opts: &OptimizeOptions,
    progress: &mut dyn FnMut(&Step) -> bool,
) -> Result<(DisplacementField, bool)> {
    let dev = opts.device;
    let theta = Tensor::from_vec(affine.flat(), [4, 3], dev)?;
    let [cd, ch, cw] = lv.ctrl.dims;
    let shape = [1, cd, ch, cw, 3];
    let mut store = ParamStore::new();
    store.insert("u", Tensor::from_vec(start.data, shape, dev)?, true)?;
    let mut adam = Adam::new(AdamConfig {
        lr: opts.dense_lr,
        decay: 0.0,
        ..AdamConfig::default()
    });
    let kind = opts.similarity.loss();
    let mut go = true;
    for it in 0..iters {
        let tape = Tape::new();
        let p = store.bind(&tape, true);
        let loss = lv.loss(&theta, Some(&p.get("u")?), kind)?;
        let value = loss.to_scalar()?;
        let grads = p.grads(&mut tape.backward(&loss)?);
        drop(p);
        adam.step(&mut store, &grads)?;
        if opts.smooth_voxels > 0.0 {
            let u = store.get("u")?.value.to_vec()?;
            let smoothed = smooth_field(&u, &lv.ctrl, opts.smooth_voxels);
            store.set("u", Tensor::from_vec(smoothed, shape, dev)?)?;
        }
        let step = Step {
            stage: "dense",
            level_mm: s,
            iteration: it + 1,
            of: iters,
            loss: value,
        };
        if !progress(&step) {
            go = false;
            break;
        }
    }
    let data = store.get("u")?.value.to_vec()?;
    Ok((
        DisplacementField {
            grid: lv.ctrl.clone(),
            data,
        },
        go,
    ))
}

/// Gaussian smoothing (σ in voxels along every axis, borders clamped) of each component of an
/// interleaved `[V, 3]` field on `grid`.
fn smooth_field(u: &[f32], grid: &Grid, sigma_voxels: f64) -> Vec<f32> {
    let mut out = vec![0f32; u.len()];
    for c in 0..3 {
        let comp = grid.volume(u.iter().skip(c).step_by(3).copied().collect());
        let unit = Volume {
            spacing: [1.0; 3],
            ..comp
        };
        let s = gaussian_smooth(&unit, sigma_voxels);
        for (i, v) in s.data.into_iter().enumerate() {
            out[3 * i + c] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::phantom::{PhantomConfig, generate_phase};
    use crate::metrics::{TreStats, landmark_errors};
    use crate::registration::grid::resample_onto;

    fn cfg() -> PhantomConfig {
        PhantomConfig {
            n: 1,
            seed: 9,
            subsets: 1,
            grid_scale: 0.3,
            phases: 2,
        }
    }

    type Points = Vec<[f64; 3]>;

    /// Phases 0 and 1 of subject 0 of `c`, with their landmarks.
    fn two_phases(c: &PhantomConfig) -> ((Volume, Points), (Volume, Points)) {
        let (fixed, _, lf) = generate_phase(c, 0, 0).unwrap();
        let (moving, _, lm) = generate_phase(c, 0, 1).unwrap();
        ((fixed, lf), (moving, lm))
    }

    /// The landmark error of `s`'s map of the fixed landmarks `lf` against the moving `lm`.
    fn tre_through(s: &Solution, lf: &[[f64; 3]], lm: &[[f64; 3]]) -> TreStats {
        let mapped: Vec<[f64; 3]> = lf.iter().map(|&p| s.map_point(p)).collect();
        TreStats::of(&landmark_errors(&mapped, lm))
    }

    fn quick() -> OptimizeOptions {
        OptimizeOptions {
            levels_mm: vec![12.0, 8.0],
            affine_iterations: 40,
            dense_iterations: vec![30, 20],
            ..OptimizeOptions::default()
        }
    }

    /// A scan against a copy of itself cropped, shifted, resampled to another spacing and with
    /// a flipped axis: the true world map is the identity, so the landmarks must stay put.
    #[test]
    fn a_resampled_flipped_cropped_copy_registers_to_the_identity() {
        let (fixed, _, landmarks) = generate_phase(&cfg(), 0, 0).unwrap();
        let g = Grid::of(&fixed);
        let mut copy = g.at_spacing(8.0);
        copy.dims = copy.dims.map(|d| d * 9 / 10);
        copy.direction[0] = copy.direction[0].map(|c| -c);
        // Put the cropped, flipped box's centre 6 mm off the original's.
        let (c, c1) = (g.centre(), copy.centre());
        copy.origin = [0, 1, 2].map(|k| copy.origin[k] + c[k] - c1[k] + 6.0);
        let moving = resample_onto(&fixed, &copy, -1024.0);
        let pair = Pair {
            fixed: &fixed,
            moving: &moving,
            fixed_mask: None,
        };
        let sol = optimize(&pair, &quick(), &mut |_| true).unwrap();
        let mapped: Vec<[f64; 3]> = landmarks.iter().map(|&p| sol.map_point(p)).collect();
        let tre = TreStats::of(&landmark_errors(&mapped, &landmarks));
        let voxel = fixed.spacing.iter().cloned().fold(0.0, f64::max);
        assert!(
            tre.mean < 0.25 * voxel,
            "identity expected: {tre:?} (voxels up to {voxel:.1} mm)"
        );
    }

    /// Two breathing phases of a subject: registration brings the landmarks much closer than
    /// no registration, without folding; a stop request ends it early.
    #[test]
    fn breathing_phases_register_and_a_stop_request_is_honoured() {
        let ((fixed, lf), (moving, lm)) = two_phases(&cfg());
        let pair = Pair {
            fixed: &fixed,
            moving: &moving,
            fixed_mask: None,
        };
        let mut steps = Vec::new();
        let sol = optimize(&pair, &quick(), &mut |s| {
            steps.push(*s);
            true
        })
        .unwrap();
        assert_eq!(steps.len(), 40 + 30 + 20);
        let before = TreStats::of(&landmark_errors(&lf, &lm));
        let after = tre_through(&sol, &lf, &lm);
        assert!(after.mean < 0.5 * before.mean, "{before:?} → {after:?}");
        assert_eq!(sol.displacement_on(&Grid::of(&fixed)).folding_pct(), 0.0);
        let again = optimize(&pair, &quick(), &mut |_| true).unwrap();
        assert_eq!(again, sol, "deterministic");
        let mut n = 0;
        optimize(&pair, &quick(), &mut |_| {
            n += 1;
            n < 5
        })
        .unwrap();
        assert_eq!(n, 5, "stopped at the fifth step");
        let bad = OptimizeOptions {
            dense_iterations: vec![1],
            ..quick()
        };
        let e = optimize(&pair, &bad, &mut |_| true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 levels but 1 dense iteration counts"), "{e}");
    }

    /// A start with a folding, rough prior (a network's prediction, say): no steps give the
    /// start back; refining keeps the start's affine part, takes the prior in, unfolds it and
    /// registers the pair.
    #[test]
    fn refining_a_rough_prediction_keeps_its_affine_part_and_removes_its_folds() {
        let ((fixed, lf), (moving, lm)) = two_phases(&cfg());
        let pair = Pair {
            fixed: &fixed,
            moving: &moving,
            fixed_mask: None,
        };
        let g = Grid::of(&fixed);
        let affine = Affine::translation(g.centre(), [1.0, -2.0, 0.5]);
        // A prior that folds: a ripple along x of 12 mm over a period of four voxels.
        let (c, period) = (g.centre()[0], 4.0 * g.spacing[0]);
        let prior = DisplacementField::from_fn(g.clone(), |p| {
            let phase = std::f64::consts::TAU * (p[0] - c) / period;
            [12.0 * phase.sin(), 0.0, 0.0]
        });
        let start = Solution {
            affine: affine.clone(),
            prior: Some(prior),
            dense: DisplacementField::zeros(g.at_spacing(40.0)),
        };
        assert!(start.displacement_on(&g).folding_pct() > 10.0);
        let tre = |s: &Solution| tre_through(s, &lf, &lm);
        let none = OptimizeOptions {
            dense_iterations: vec![0, 0],
            ..quick()
        };
        assert_eq!(refine(&pair, &none, &start, &mut |_| true).unwrap(), start);
        let mut steps = 0;
        let sol = refine(&pair, &quick(), &start, &mut |s| {
            assert_eq!(s.stage, "dense");
            steps += 1;
            true
        })
        .unwrap();
        assert_eq!(steps, 30 + 20, "no affine stage");
        assert_eq!(sol.affine, affine);
        assert!(sol.prior.is_none());
        assert_eq!(sol.displacement_on(&g).folding_pct(), 0.0);
        let before = TreStats::of(&landmark_errors(&lf, &lm));
        let (from, after) = (tre(&start), tre(&sol));
        assert!(
            after.mean < 0.5 * before.mean && after.mean < 0.5 * from.mean,
            "unregistered {before:?}, start {from:?} → {after:?}"
        );
    }

    /// One code path on every device: the optimization on the GPU kernels (run by the
    /// emulator here, by the GPU where there is one) finds the CPU's solution up to float
    /// rounding.
    #[test]
    fn the_kernels_optimize_as_the_cpu_does() {
        let tiny = PhantomConfig {
            grid_scale: 0.12,
            ..cfg()
        };
        let ((fixed, _), (moving, _)) = two_phases(&tiny);
        let pair = Pair {
            fixed: &fixed,
            moving: &moving,
            fixed_mask: None,
        };
        let opts = |device| OptimizeOptions {
            levels_mm: vec![20.0],
            affine_iterations: 5,
            dense_iterations: vec![5],
            device,
            ..OptimizeOptions::default()
        };
        let cpu = optimize(&pair, &opts(Device::Cpu), &mut |_| true).unwrap();
        let g = Grid::of(&fixed);
        let moved = |s: &Solution| {
            s.displacement_on(&g)
                .data
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()))
        };
        assert!(moved(&cpu) > 1.0, "the CPU solution moves: {}", moved(&cpu));
        for dev in crate::ops::testing::test_devices().into_iter().skip(1) {
            let other = optimize(&pair, &opts(dev), &mut |_| true).unwrap();
            let (a, b) = (cpu.displacement_on(&g), other.displacement_on(&g));
            let worst = a
                .data
                .iter()
                .zip(&b.data)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(worst < 1e-2, "{dev}: the maps differ by up to {worst} mm");
        }
    }

    #[test]
    fn the_sampled_voxels_are_where_the_fixed_image_changes() {
        // A step along x between columns 3 and 4: only voxels next to it have a gradient.
        let data: Vec<f32> = (0..4 * 5 * 8)
            .map(|i| if i % 8 >= 4 { 1.0 } else { 0.0 })
            .collect();
        let v = Volume::new(data, [4, 5, 8], std::path::Path::new("x")).unwrap();
        assert_eq!(sampled_voxels(&v, 1.0), None);
        let idx = sampled_voxels(&v, 0.25).unwrap();
        assert_eq!(idx.len(), 40);
        assert!(idx.iter().all(|i| i % 8 == 3 || i % 8 == 4), "{idx:?}");
        assert!(idx.windows(2).all(|w| w[0] < w[1]), "ascending");
        let rows = gather(vec![0, 1, 2, 3, 4, 5], 2, Some(&[2, 0]));
        assert_eq!(rows, vec![4, 5, 0, 1]);
        let bad = OptimizeOptions {
            sample_fraction: 0.0,
            ..OptimizeOptions::default()
        };
        assert!(
            check_options(&bad)
                .unwrap_err()
                .to_string()
                .contains("not in (0, 1]")
        );
    }
}
