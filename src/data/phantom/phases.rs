//! Breathing phases and landmarks: the same subject scanned again at another breathing state,
//! and points that correspond between its scans (and, through the canonical frame, between
//! subjects).
//!
//! Phase 0 of a subject is the scan [`Subject::draw`] makes. Phase `p > 0` keeps everything of
//! the subject's body (anatomy, vessel and airway trees, nodules, grid) and draws anew what
//! changes between two scans of one patient: the breathing state (and so the breathing-like
//! scaling), the smooth displacement waves, a few millimetres of repositioning and the scanner
//! noise. Its id is the subject's with `_p{p}` appended.
//!
//! Landmarks are canonical points of the subject's anatomy, 300 in the lungs and up to 100
//! vessel bifurcations, carried into each phase's world frame by its deformation's inverse.
//! So the true map between two phases sends landmark `i` of one to landmark `i` of the other,
//! and a registration's landmark error measures how far it is from that map.

use super::subject::{Nodule, Subject, key};
use super::{Deformation, PhantomConfig};
use crate::tensor::Rng;

/// Lung landmarks drawn per subject.
pub const LUNG_LANDMARKS: usize = 300;
/// Vessel bifurcations taken per subject, at most.
pub const BIFURCATION_LANDMARKS: usize = 100;

/// The id of phase `phase` of the subject with id `id`.
pub fn phase_id(id: &str, phase: usize) -> String {
    match phase {
        0 => id.to_string(),
        p => format!("{id}_p{p}"),
    }
}

fn range(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.uniform()
}

/// Subject `index` of `cfg` at breathing phase `phase` (0: the subject as drawn).
pub(super) fn draw_phase(cfg: &PhantomConfig, index: usize, phase: usize) -> Subject {
    let mut s = Subject::draw(cfg, index);
    if phase == 0 {
        return s;
    }
    let mut rp = Rng::new(key(cfg.seed, index, 16 + phase as u64));
    let breathing = rp.uniform();
    let scale = [
        0.98 + 0.04 * breathing,
        0.95 + 0.10 * breathing,
        0.90 + 0.22 * breathing,
    ];
    let old = &s.deform;
    let anchor = old.anchor_mm;
    let [lb, ub] = s.anatomy.lung_bounds();
    let mid = 0.5 * (lb[2] + ub[2]);
    // Keep the lungs' centre where phase 0 has it, up to a few millimetres of repositioning.
    let z_shift = (old.scale[2] - scale[2]) * (mid - anchor[2]);
    let deform = Deformation {
        translation_mm: [
            old.translation_mm[0] + range(&mut rp, -3.0, 3.0),
            old.translation_mm[1] + range(&mut rp, -3.0, 3.0),
            old.translation_mm[2] + z_shift + range(&mut rp, -3.0, 3.0),
        ],
        yaw_deg: old.yaw_deg + range(&mut rp, -1.0, 1.0),
        anchor_mm: anchor,
        scale,
        waves: Deformation::draw_waves(&mut rp),
    };
    s.id = phase_id(&s.id, phase);
    s.breathing = breathing;
    s.deform = deform;
    s.couch = super::subject::couch(&s.anatomy, &s.deform);
    s.noise_key = key(cfg.seed, index, 32 + phase as u64);
    let volume = s.deform.scale.iter().product::<f64>();
    let nodules: Vec<Nodule> = s
        .nodules
        .iter()
        .map(|n| Nodule {
            world_mm: s.deform.to_world(n.centre),
            diameter_mm: 2.0 * n.radius * volume.cbrt(),
            ..n.clone()
        })
        .collect();
    s.nodules = nodules;
    s
}

/// The subject's landmarks in its canonical frame: lung points, then vessel bifurcations.
/// The same for every phase (they depend on the anatomy alone).
pub(super) fn canonical_landmarks(cfg: &PhantomConfig, s: &Subject) -> Vec<[f64; 3]> {
    let mut rng = Rng::new(key(cfg.seed, s.index, 7));
    let [lo, hi] = s.anatomy.lung_bounds();
    let mut points = Vec::with_capacity(LUNG_LANDMARKS + BIFURCATION_LANDMARKS);
    // Rejection sampling in the lungs' box; a margin keeps points off the pleura.
    let mut tries = 0;
    while points.len() < LUNG_LANDMARKS && tries < 200 * LUNG_LANDMARKS {
        tries += 1;
        let q = [0, 1, 2].map(|a| lo[a] + (hi[a] - lo[a]) * rng.uniform());
        let inside = s.anatomy.lung_side(q).is_some()
            && (0..6).all(|k| {
                let mut p = q;
                p[k / 2] += if k % 2 == 0 { 4.0 } else { -4.0 };
                s.anatomy.lung_side(p).is_some()
            });
        if inside && in_grid(s, s.deform.to_world(q)) {
            points.push(q);
        }
    }
    // Bifurcations: where a branch of generation 2 or more leaves its parent, on vessels wide
    // enough to see (radius 1.5 mm or more), widest first.
    let mut forks: Vec<&super::tubes::Seg> = s
        .vessels
        .segs
        .iter()
        .filter(|g| g.generation >= 2 && g.r[0] >= 1.5 && s.anatomy.lung_side(g.a).is_some())
        .filter(|g| in_grid(s, s.deform.to_world(g.a)))
        .collect();
    forks.sort_by(|a, b| b.r[0].total_cmp(&a.r[0]));
    let mut taken: Vec<[f64; 3]> = Vec::new();
    for g in forks {
        // Two branches leave each fork: one landmark per fork point.
        if taken.iter().all(|t| dist2(*t, g.a) > 1e-6) {
            taken.push(g.a);
        }
        if taken.len() == BIFURCATION_LANDMARKS {
            break;
        }
    }
    points.extend(taken);
    points
}

fn dist2(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|k| (a[k] - b[k]).powi(2)).sum()
}

/// Whether world point `p` is inside the subject's grid, 5 mm from its faces.
fn in_grid(s: &Subject, p: [f64; 3]) -> bool {
    let v = s.world_to_voxel(p);
    (0..3).all(|a| {
        let m = 5.0 / s.spacing[a];
        v[a] >= m && v[a] <= s.dims[2 - a] as f64 - 1.0 - m
    })
}

/// The world landmarks (LPS mm) of subject `index` at phase `phase`.
pub fn subject_landmarks(cfg: &PhantomConfig, index: usize, phase: usize) -> Vec<[f64; 3]> {
    let s = draw_phase(cfg, index, phase);
    world_landmarks(cfg, &s)
}

/// The landmarks of the drawn subject `s` (any phase) in its world frame.
pub(super) fn world_landmarks(cfg: &PhantomConfig, s: &Subject) -> Vec<[f64; 3]> {
    let base = Subject::draw(cfg, s.index);
    canonical_landmarks(cfg, &base)
        .into_iter()
        .map(|q| s.deform.to_world(q))
        .collect()
}
