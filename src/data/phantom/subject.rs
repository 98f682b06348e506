//! Everything random about one subject, drawn from `(seed, index)` alone: the image grid
//! (size, anisotropic spacing, flipped axes, origin), the breathing state and size, the
//! anatomy, the deformation, the vessel and airway trees, the nodules, the couch and the id.
//! Each part draws from its own stream, so subjects are independent of each other.

use super::PhantomConfig;
use super::anatomy::Anatomy;
use super::deform::Deformation;
use super::trees::trees;
use super::tubes::Tubes;
use crate::tensor::Rng;

/// The LUNA16 seriesuid prefix of every phantom id.
pub const ID_PREFIX: &str = "1.3.6.1.4.1.14519.5.2.1.6279.6001.";

/// A solid nodule: canonical sphere, and its world centre and approximate diameter.
#[derive(Clone, Debug)]
pub struct Nodule {
    pub centre: [f64; 3],
    pub radius: f64,
    pub world_mm: [f64; 3],
    pub diameter_mm: f64,
}

/// The scanner couch below the patient, fixed in world coordinates.
#[derive(Clone, Debug)]
pub struct Couch {
    /// World x of its axis and world y of its top surface there.
    pub x0: f64,
    pub y0: f64,
    /// The top rises by `curvature · dx²` towards the sides.
    pub curvature: f64,
}

/// One subject, ready to render.
#[derive(Clone, Debug)]
pub struct Subject {
    pub index: usize,
    pub id: String,
    pub subset: usize,
    /// Array shape `[D, H, W]`.
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    pub origin: [f64; 3],
    /// Sign of the x and y direction cosines (the direction matrix is diagonal).
    pub flip: [bool; 2],
    pub airway_labelled: bool,
    pub noise_sigma: f64,
    pub breathing: f64,
    pub size_factor: f64,
    pub deform: Deformation,
    pub anatomy: Anatomy,
    pub vessels: Tubes,
    pub airways: Tubes,
    pub nodules: Vec<Nodule>,
    pub couch: Couch,
    /// Key of the per-voxel noise hash.
    pub noise_key: u64,
    /// Partial-volume width in mm (the mean voxel spacing).
    pub h: f64,
}

/// SplitMix64's finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash of (seed, index, stream).
pub fn key(seed: u64, index: usize, stream: u64) -> u64 {
    mix(mix(mix(seed) ^ index as u64) ^ stream)
}

/// The LUNA16-style id of subject `index`: the seriesuid prefix and 30 digits.
pub fn subject_id(seed: u64, index: usize) -> String {
    let h = [0, 1, 2].map(|s| key(seed, index, 0x1D00 + s));
    format!(
        "{ID_PREFIX}{}{:018}{:011}",
        1 + h[0] % 9,
        h[1] % 1_000_000_000_000_000_000,
        h[2] % 100_000_000_000
    )
}

fn range(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.uniform()
}

impl Subject {
    /// Draws subject `index` of the dataset `cfg` describes.
    pub fn draw(cfg: &PhantomConfig, index: usize) -> Subject {
        let seed = cfg.seed;
        let mut rg = Rng::new(key(seed, index, 1));
        // Grid: square slices of 128–160 voxels at 2.0–2.6 mm (at least 320 mm across),
        // 72–100 slices of 2.5–3.5 mm (at least 250 mm), scaled by grid_scale.
        let n_xy = 128 + rg.below(33);
        let s_xy = range(&mut rg, (320.0 / n_xy as f64).max(1.8), 2.6);
        let n_z = 72 + rg.below(29);
        let s_z = range(&mut rg, (250.0 / n_z as f64).max(2.5), 3.5);
        let scaled = |n: usize, s: f64| {
            let m = ((n as f64 * cfg.grid_scale).round() as usize).max(8);
            (m, s * n as f64 / m as f64)
        };
        let (w, sx) = scaled(n_xy, s_xy);
        let (d, sz) = scaled(n_z, s_z);
        let spacing = [sx, sx, sz];
        let dims = [d, w, w];
        let f = rg.uniform();
        let flip = [f < 0.18, f < 0.12 || (0.18..0.24).contains(&f)];
        let centre = [
            range(&mut rg, -8.0, 8.0),
            range(&mut rg, -15.0, 5.0),
            range(&mut rg, -260.0, -80.0),
        ];
        let mut origin = [0.0; 3];
        for a in 0..3 {
            let n = dims[2 - a] as f64;
            let sign = if a < 2 && flip[a] { -1.0 } else { 1.0 };
            origin[a] = centre[a] - sign * (n - 1.0) / 2.0 * spacing[a];
        }
        let airway_labelled = rg.uniform() < 0.35;
        let noise_sigma = range(&mut rg, 10.0, 20.0);

        // Breathing and size.
        let breathing = rg.uniform();
        let size_factor = range(&mut rg, 0.92, 1.08);
        let anatomy = Anatomy::draw(&mut Rng::new(key(seed, index, 2)), size_factor);
        let scale = [
            0.98 + 0.04 * breathing,
            0.95 + 0.10 * breathing,
            0.90 + 0.22 * breathing,
        ];
        let apex = 0.5 * (anatomy.apex_z[0] + anatomy.apex_z[1]);
        let anchor = [0.0, anatomy.spine_y, apex];
        let [lb, ub] = anatomy.lung_bounds();
        let lung_mid = anchor[2] + scale[2] * (0.5 * (lb[2] + ub[2]) - anchor[2]);
        let mut rd = Rng::new(key(seed, index, 3));
        let deform = Deformation {
            translation_mm: [
                centre[0] + range(&mut rd, -10.0, 10.0),
                centre[1] + range(&mut rd, -12.0, 8.0),
                centre[2] - lung_mid + range(&mut rd, -8.0, 8.0),
            ],
            yaw_deg: range(&mut rd, -3.0, 3.0),
            anchor_mm: anchor,
            scale,
            waves: Deformation::draw_waves(&mut rd),
        };
        let couch = couch(&anatomy, &deform);
        let h = spacing.iter().sum::<f64>() / 3.0;
        let (vessels, airways) =
            trees(&anatomy, &mut Rng::new(key(seed, index, 4)), size_factor, h);
        let mut s = Subject {
            index,
            id: subject_id(seed, index),
            subset: index % cfg.subsets,
            dims,
            spacing,
            origin,
            flip,
            airway_labelled,
            noise_sigma,
            breathing,
            size_factor,
            deform,
            anatomy,
            vessels,
            airways,
            nodules: Vec::new(),
            couch,
            noise_key: key(seed, index, 5),
            h,
        };
        s.nodules = s.draw_nodules(&mut Rng::new(key(seed, index, 6)));
        s
    }

    /// The direction matrix (rows are the world directions of image axes x, y, z).
    pub fn direction(&self) -> [[f64; 3]; 3] {
        let sx = if self.flip[0] { -1.0 } else { 1.0 };
        let sy = if self.flip[1] { -1.0 } else { 1.0 };
        [[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]]
    }

    /// World coordinates of the grid's columns, rows and slices.
    pub fn axis_coords(&self) -> [Vec<f64>; 3] {
        let dir = self.direction();
        [0, 1, 2].map(|a| {
            (0..self.dims[2 - a])
                .map(|i| self.origin[a] + dir[a][a] * self.spacing[a] * i as f64)
                .collect()
        })
    }

    /// The continuous voxel index (x, y, z) of world point `p`.
    pub fn world_to_voxel(&self, p: [f64; 3]) -> [f64; 3] {
        let dir = self.direction();
        [0, 1, 2].map(|a| (p[a] - self.origin[a]) * dir[a][a] / self.spacing[a])
    }

    fn draw_nodules(&self, rng: &mut Rng) -> Vec<Nodule> {
        let u = rng.uniform();
        let count = if u < 0.15 {
            0
        } else if u < 0.5 {
            1
        } else if u < 0.8 {
            2
        } else {
            3
        };
        let [lo, hi] = self.anatomy.lung_bounds();
        let volume = self.deform.scale.iter().product::<f64>();
        let mut out = Vec::new();
        for _ in 0..count {
            let diameter = 3.0 + 12.0 * rng.uniform().powf(1.5);
            let radius = diameter / 2.0;
            for _ in 0..300 {
                let c = [0, 1, 2].map(|a| lo[a] + (hi[a] - lo[a]) * rng.uniform());
                let Some(side) = self.anatomy.lung_side(c) else {
                    continue;
                };
                let m = radius + 3.0;
                let fits = (0..6).all(|k| {
                    let mut p = c;
                    p[k / 2] += if k % 2 == 0 { m } else { -m };
                    self.anatomy.lung_side(p) == Some(side)
                });
                let apart = out
                    .iter()
                    .all(|n: &Nodule| dist(n.centre, c) > n.radius + radius + 10.0);
                let world = self.deform.to_world(c);
                let v = self.world_to_voxel(world);
                let inside = (0..3).all(|a| {
                    let margin = m / self.spacing[a];
                    v[a] >= margin && v[a] <= self.dims[2 - a] as f64 - 1.0 - margin
                });
                if fits && apart && inside {
                    out.push(Nodule {
                        centre: c,
                        radius,
                        world_mm: world,
                        diameter_mm: diameter * volume.cbrt(),
                    });
                    break;
                }
            }
        }
        out
    }
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// The couch top just below the lowest (most posterior) point of the back.
pub(super) fn couch(anat: &Anatomy, deform: &Deformation) -> Couch {
    let mut y = f64::NEG_INFINITY;
    for xi in -6..=6 {
        let x = 20.0 * xi as f64;
        let yb = anat.body_post * (1.0 - (x / anat.body_ax).powi(2)).max(0.0).sqrt();
        for zi in -3..=2 {
            let w = deform.to_world([x, yb, 60.0 * zi as f64]);
            y = y.max(w[1]);
        }
    }
    Couch {
        x0: deform.translation_mm[0],
        y0: y + 2.0,
        curvature: 0.0012,
    }
}
