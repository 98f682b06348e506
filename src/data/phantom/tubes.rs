//! Branching tubes inside the lungs: the pulmonary vessel trees and the airway tree (trachea,
//! main bronchi and a few generations of bronchi). Trees grow from the hilum by random
//! bifurcations that taper and stay inside their lung; a uniform grid over their bounds lists
//! the segments near each cell, so a voxel tests only a handful.

use super::anatomy::Anatomy;
use super::shapes::seg_dist;
use crate::tensor::Rng;

/// A tapered tube segment.
#[derive(Clone, Debug)]
pub struct Seg {
    pub a: [f64; 3],
    pub b: [f64; 3],
    /// Radius at `a` and at `b` (mm; the lumen radius for airways).
    pub r: [f64; 2],
    /// Branching generation (0 = trachea or root vessel).
    pub generation: u8,
}

impl Seg {
    /// Distance from `q` to the axis and the radius there.
    pub fn dist(&self, q: [f64; 3]) -> (f64, f64) {
        let (d, t) = seg_dist(self.a, self.b, q);
        (d, self.r[0] + (self.r[1] - self.r[0]) * t)
    }
}

/// Segments and the grid that indexes them.
#[derive(Clone, Debug)]
pub struct Tubes {
    pub segs: Vec<Seg>,
    lo: [f64; 3],
    cell: f64,
    n: [usize; 3],
    start: Vec<u32>,
    items: Vec<u32>,
}

impl Tubes {
    /// Indexes `segs`; each is listed in every cell its box, grown by `pad` mm, touches.
    pub fn new(segs: Vec<Seg>, pad: f64) -> Self {
        let cell = 8.0;
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        let boxes: Vec<[[f64; 3]; 2]> = segs
            .iter()
            .map(|s| {
                let g = s.r[0].max(s.r[1]) + pad;
                let mut b = [[0.0; 3]; 2];
                for a in 0..3 {
                    b[0][a] = s.a[a].min(s.b[a]) - g;
                    b[1][a] = s.a[a].max(s.b[a]) + g;
                    lo[a] = lo[a].min(b[0][a]);
                    hi[a] = hi[a].max(b[1][a]);
                }
                b
            })
            .collect();
        if segs.is_empty() {
            lo = [0.0; 3];
            hi = [0.0; 3];
        }
        let n = [0, 1, 2].map(|a| ((hi[a] - lo[a]) / cell).ceil().max(1.0) as usize);
        let cell_range = |b: &[[f64; 3]; 2], a: usize| {
            let i0 = ((b[0][a] - lo[a]) / cell).floor().max(0.0) as usize;
            let i1 = (((b[1][a] - lo[a]) / cell).floor().max(0.0) as usize).min(n[a] - 1);
            i0.min(n[a] - 1)..=i1
        };
        let mut lists = vec![Vec::new(); n[0] * n[1] * n[2]];
        for (si, b) in boxes.iter().enumerate() {
            for k in cell_range(b, 2) {
                for j in cell_range(b, 1) {
                    for i in cell_range(b, 0) {
                        lists[(k * n[1] + j) * n[0] + i].push(si as u32);
                    }
                }
            }
        }
        let mut start = Vec::with_capacity(lists.len() + 1);
        let mut items = Vec::new();
        start.push(0);
        for l in lists {
            items.extend(l);
            start.push(items.len() as u32);
        }
        Tubes {
            segs,
            lo,
            cell,
            n,
            start,
            items,
        }
    }

    /// Indices of the segments that may be within `pad` of `q`.
    pub fn near(&self, q: [f64; 3]) -> &[u32] {
        let mut c = [0usize; 3];
        for a in 0..3 {
            let f = (q[a] - self.lo[a]) / self.cell;
            if f < 0.0 || f >= self.n[a] as f64 {
                return &[];
            }
            c[a] = f as usize;
        }
        let i = (c[2] * self.n[1] + c[1]) * self.n[0] + c[0];
        &self.items[self.start[i] as usize..self.start[i + 1] as usize]
    }
}

fn norm(v: [f64; 3]) -> [f64; 3] {
    let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-12);
    v.map(|x| x / l)
}

/// A random unit vector perpendicular to unit `d`.
fn perpendicular(rng: &mut Rng, d: [f64; 3]) -> [f64; 3] {
    loop {
        let r = [rng.normal(), rng.normal(), rng.normal()];
        let p = r[0] * d[0] + r[1] * d[1] + r[2] * d[2];
        let e = [r[0] - p * d[0], r[1] - p * d[1], r[2] - p * d[2]];
        if e.iter().map(|x| x * x).sum::<f64>() > 1e-6 {
            return norm(e);
        }
    }
}

/// How a tree branches.
pub struct Growth {
    /// Generations below the root.
    pub max_gen: u8,
    /// Stop below this radius (mm).
    pub min_radius: f64,
    /// Child radius factors (major, minor child).
    pub radius_factor: [f64; 2],
    /// Child branching angles in degrees: ranges for the major and minor child.
    pub angle_deg: [[f64; 2]; 2],
    /// Child length factor range.
    pub length_factor: [f64; 2],
}

/// Grows a tree into lung `side` from `start` along `dir`: the root segment, then recursive
/// bifurcations. A child whose midpoint or end leaves the lung is redrawn a few times and
/// dropped if it cannot fit.
#[allow(clippy::too_many_arguments)]
pub fn grow(
    out: &mut Vec<Seg>,
    rng: &mut Rng,
    anat: &Anatomy,
    side: usize,
    start: [f64; 3],
    dir: [f64; 3],
    radius: f64,
    length: f64,
    generation: u8,
    g: &Growth,
) {
    let dir = norm(dir);
    let end = [0, 1, 2].map(|a| start[a] + dir[a] * length);
    out.push(Seg {
        a: start,
        b: end,
        r: [radius, radius * 0.92],
        generation,
    });
    if generation >= g.max_gen {
        return;
    }
    let plane = perpendicular(rng, dir);
    for (child, sign) in [(0usize, 1.0), (1, -1.0)] {
        let r = radius * g.radius_factor[child];
        if r < g.min_radius {
            continue;
        }
        let len = length
            * (g.length_factor[0] + (g.length_factor[1] - g.length_factor[0]) * rng.uniform());
        for attempt in 0..8 {
            let e = if attempt == 0 {
                plane.map(|v| v * sign)
            } else {
                perpendicular(rng, dir)
            };
            let [lo, hi] = g.angle_deg[child];
            let ang = (lo + (hi - lo) * rng.uniform()).to_radians();
            let d = norm([0, 1, 2].map(|a| ang.cos() * dir[a] + ang.sin() * e[a]));
            let mid = [0, 1, 2].map(|a| end[a] + d[a] * len * 0.5);
            let tip = [0, 1, 2].map(|a| end[a] + d[a] * (len + r));
            if anat.lung_side(mid) == Some(side) && anat.lung_side(tip) == Some(side) {
                grow(out, rng, anat, side, end, d, r, len, generation + 1, g);
                break;
            }
        }
    }
}
