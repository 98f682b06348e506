//! Trilinear sampling `img [n, in_dims, c]` at voxel coordinates `coords [n, out_dims, 3]`
//! (channel 0 indexes W, 1 H, 2 D), and its two gradients.
//!
//! Per axis a coordinate selects two neighbouring indices and their linear weights
//! ([`Lerp`]); a voxel interpolates its eight corners along x, then y, then z ([`Corners`]).
//! With [`Padding::Border`] the coordinate is first clamped to `[0, size − 1]`: its gradient is
//! zero where the clamp is active (strictly outside that range; exactly on the edge it is the
//! derivative from the inside), and the lower index is kept at most `size − 2`, so both
//! corners lie inside. With [`Padding::Zeros`] corners outside the volume read zero (also for
//! infinite or NaN coordinates, which read zero).
//!
//! The image gradient is a scatter. It is computed without atomics and in an order fixed by the
//! data alone: output voxels are bucketed (a stable counting sort) by the D index of their
//! lower corner plane; the image is split into slabs of [`SLAB`] D-planes, and each slab's work
//! item owns its planes of `dimg` and walks, in bucket order, the buckets that can touch them.
//! Every `dimg` value on plane `z` therefore receives its contributions in the same order (the
//! voxels whose lower plane is `z − 1`, then those whose lower plane is `z`, each group in
//! ascending output index) whatever the slab size or thread count.

use crate::ops::{Padding, SampleGeom};
use rayon::prelude::*;

/// Output voxels per parallel work item of the forward and coordinate-gradient passes.
const VOXELS: usize = 4096;
/// Image D-planes per work item of the image-gradient scatter.
const SLAB: usize = 4;

/// Linear interpolation along one axis: corners `i[k]` (0 where not `ok[k]`) with weights
/// `w[k]`, and `dw = ∂w[1]/∂x = −∂w[0]/∂x`.
#[derive(Clone, Copy)]
struct Lerp {
    /// The lower corner index as a signed value (for bucketing; −1 may be a valid bucket).
    lo: i64,
    i: [usize; 2],
    ok: [bool; 2],
    w: [f32; 2],
    dw: f32,
}

/// `⌊x⌋` of a value already clamped to a small range (no libm call, unlike `f32::floor`).
fn floor_small(x: f32) -> i64 {
    let t = x as i64;
    if (t as f32) > x { t - 1 } else { t }
}

impl Lerp {
    fn new(x: f32, size: usize, padding: Padding) -> Lerp {
        match padding {
            Padding::Zeros => {
                // Clamping to [−2, size] keeps ⌊x⌋ wherever a corner is inside; far-away and
                // NaN coordinates land on −2 or `size`, where both corners are outside.
                let xr = x.max(-2.0).min(size as f32);
                let lo = floor_small(xr);
                let t = xr - lo as f32;
                let ok0 = lo >= 0 && lo < size as i64;
                let ok1 = lo >= -1 && lo + 1 < size as i64;
                Lerp {
                    lo,
                    i: [
                        if ok0 { lo as usize } else { 0 },
                        if ok1 { (lo + 1) as usize } else { 0 },
                    ],
                    ok: [ok0, ok1],
                    w: [1.0 - t, t],
                    dw: 1.0,
                }
            }
            Padding::Border => {
                if size == 1 {
                    return Lerp {
                        lo: 0,
                        i: [0, 0],
                        ok: [true, false],
                        w: [1.0, 0.0],
                        dw: 0.0,
                    };
                }
                let hi = (size - 1) as f32;
                let inside = x >= 0.0 && x <= hi;
                let xc = x.max(0.0).min(hi);
                let lo = (xc as usize).min(size - 2);
                let t = xc - lo as f32;
                Lerp {
                    lo: lo as i64,
                    i: [lo, lo + 1],
                    ok: [true, true],
                    w: [1.0 - t, t],
                    dw: if inside { 1.0 } else { 0.0 },
                }
            }
        }
    }
}

/// The eight corners of one output voxel in the fixed order (z, y, x) with x fastest: image
/// offsets of channel 0 (0 for corners outside the image, which read as zero), whether each
/// corner is inside, and the three axes' interpolation.
struct Corners {
    off: [usize; 8],
    ok: [bool; 8],
    l: [Lerp; 3],
}

impl Corners {
    #[inline(always)]
    fn new(p: &[f32], g: &SampleGeom) -> Corners {
        let [di, hi, wi] = g.in_dims;
        let l = [
            Lerp::new(p[0], wi, g.padding),
            Lerp::new(p[1], hi, g.padding),
            Lerp::new(p[2], di, g.padding),
        ];
        let [lx, ly, lz] = &l;
        let mut k = Corners {
            off: [0; 8],
            ok: [false; 8],
            l,
        };
        for j in 0..8 {
            let (a, b, c) = (j >> 2, (j >> 1) & 1, j & 1);
            k.off[j] = ((lz.i[a] * hi + ly.i[b]) * wi + lx.i[c]) * g.c;
            k.ok[j] = lz.ok[a] & ly.ok[b] & lx.ok[c];
        }
        k
    }

    /// The weight of corner `j`, `w_z · w_y · w_x`.
    #[inline(always)]
    fn weight(&self, j: usize) -> f32 {
        let [lx, ly, lz] = &self.l;
        lz.w[j >> 2] * ly.w[(j >> 1) & 1] * lx.w[j & 1]
    }

    /// Channel `ch` of the eight corners; zero outside the image.
    #[inline(always)]
    fn values(&self, img: &[f32], ch: usize) -> [f32; 8] {
        let mut v = [0.0; 8];
        for (j, v) in v.iter_mut().enumerate() {
            let x = img[self.off[j] + ch];
            *v = if self.ok[j] { x } else { 0.0 };
        }
        v
    }

    /// Trilinear interpolation of corner values `v`: along x, then y, then z.
    #[inline(always)]
    fn interp(&self, v: &[f32; 8]) -> f32 {
        let [lx, ly, lz] = &self.l;
        let r = |j: usize| lx.w[0] * v[j] + lx.w[1] * v[j + 1];
        let p0 = ly.w[0] * r(0) + ly.w[1] * r(2);
        let p1 = ly.w[0] * r(4) + ly.w[1] * r(6);
        lz.w[0] * p0 + lz.w[1] * p1
    }

    /// `∂ interp(v) / ∂(x, y, z)`.
    #[inline(always)]
    fn grad(&self, v: &[f32; 8]) -> [f32; 3] {
        let [lx, ly, lz] = &self.l;
        let r = |j: usize| lx.w[0] * v[j] + lx.w[1] * v[j + 1];
        let dr = |j: usize| v[j + 1] - v[j];
        let (r00, r01, r10, r11) = (r(0), r(2), r(4), r(6));
        let gx = lz.w[0] * (ly.w[0] * dr(0) + ly.w[1] * dr(2))
            + lz.w[1] * (ly.w[0] * dr(4) + ly.w[1] * dr(6));
        let gy = lz.w[0] * (r01 - r00) + lz.w[1] * (r11 - r10);
        let p0 = ly.w[0] * r00 + ly.w[1] * r01;
        let p1 = ly.w[0] * r10 + ly.w[1] * r11;
        [gx * lx.dw, gy * ly.dw, (p1 - p0) * lz.dw]
    }
}

/// Trilinear sampling: `out[i, o, ch] = Σ_corners w · img[i, corner, ch]`.
pub fn grid_sample(img: &[f32], coords: &[f32], g: SampleGeom) -> Vec<f32> {
    let c = g.c;
    let (vin, vout) = (volume(g.in_dims) * c, volume(g.out_dims));
    let mut out = vec![0.0; g.n * vout * c];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(vout * c)
        .zip(coords.par_chunks(vout * 3))
        .zip(img.par_chunks(vin))
        .for_each(|((out, coords), img)| {
            out.par_chunks_mut(VOXELS * c)
                .zip(coords.par_chunks(VOXELS * 3))
                .for_each(|(out, coords)| {
                    for (o, p) in out.chunks_exact_mut(c).zip(coords.chunks_exact(3)) {
                        let k = Corners::new(p, &g);
                        for (ch, o) in o.iter_mut().enumerate() {
                            *o = k.interp(&k.values(img, ch));
                        }
                    }
                });
        });
    out
}

/// Gradients `(dimg, dcoords)` of [`grid_sample`] given the output gradient `dy`.
pub fn grid_sample_bwd(
    img: &[f32],
    coords: &[f32],
    dy: &[f32],
    g: SampleGeom,
) -> (Vec<f32>, Vec<f32>) {
    let dcoords = grid_sample_bwd_coords(img, coords, dy, g);
    let dimg = image_grad(coords, dy, g);
    (dimg, dcoords)
}

/// The image gradient of [`grid_sample`] alone (no coordinate gradient), bitwise the first
/// result of [`grid_sample_bwd`].
pub fn grid_sample_bwd_image(coords: &[f32], dy: &[f32], g: SampleGeom) -> Vec<f32> {
    image_grad(coords, dy, g)
}

fn volume(d: [usize; 3]) -> usize {
    d.iter().product()
}

/// The coordinate gradient of [`grid_sample`] alone (the image gradient's scatter is skipped):
/// `dcoords[i, o, axis] = Σ_ch dy[i, o, ch] · ∂out[i, o, ch]/∂axis`.
pub fn grid_sample_bwd_coords(img: &[f32], coords: &[f32], dy: &[f32], g: SampleGeom) -> Vec<f32> {
    let c = g.c;
    let (vin, vout) = (volume(g.in_dims) * c, volume(g.out_dims));
    let mut dcoords = vec![0.0; coords.len()];
    if dcoords.is_empty() || c == 0 {
        return dcoords;
    }
    dcoords
        .par_chunks_mut(vout * 3)
        .zip(coords.par_chunks(vout * 3).zip(dy.par_chunks(vout * c)))
        .zip(img.par_chunks(vin))
        .for_each(|((dcoords, (coords, dy)), img)| {
            dcoords
                .par_chunks_mut(VOXELS * 3)
                .zip(coords.par_chunks(VOXELS * 3).zip(dy.par_chunks(VOXELS * c)))
                .for_each(|(dc, (coords, dy))| {
                    for ((dc, p), dy) in dc
                        .chunks_exact_mut(3)
                        .zip(coords.chunks_exact(3))
                        .zip(dy.chunks_exact(c))
                    {
                        let k = Corners::new(p, &g);
                        let mut acc = [0.0f32; 3];
                        for (ch, &d) in dy.iter().enumerate() {
                            let s = k.grad(&k.values(img, ch));
                            for (a, s) in acc.iter_mut().zip(s) {
                                *a += d * s;
                            }
                        }
                        dc.copy_from_slice(&acc);
                    }
                });
        });
    dcoords
}

/// The lower-corner D plane of every output voxel of one sample, as a bucket number
/// `lo + 1` in `0..=di` (Zeros padding can put a valid upper corner at plane 0 from `lo = −1`),
/// or `u32::MAX` for voxels that touch no plane.
fn plane_keys(coords: &[f32], g: &SampleGeom) -> Vec<u32> {
    let di = g.in_dims[0];
    let mut keys = vec![0u32; coords.len() / 3];
    keys.par_chunks_mut(VOXELS)
        .zip(coords.par_chunks(VOXELS * 3))
        .for_each(|(keys, coords)| {
            for (key, p) in keys.iter_mut().zip(coords.chunks_exact(3)) {
                let lz = Lerp::new(p[2], di, g.padding);
                *key = if lz.ok[0] || lz.ok[1] {
                    (lz.lo + 1) as u32
                } else {
                    u32::MAX
                };
            }
        });
    keys
}

/// Output voxel indices of one sample grouped by bucket (stable counting sort): bucket `b`'s
/// voxels are `order[start[b]..start[b + 1]]`, in ascending index order.
fn buckets(keys: &[u32], nb: usize) -> (Vec<u32>, Vec<usize>) {
    let mut start = vec![0usize; nb + 1];
    for &k in keys {
        if (k as usize) < nb {
            start[k as usize + 1] += 1;
        }
    }
    for b in 0..nb {
        start[b + 1] += start[b];
    }
    let mut cursor = start.clone();
    let mut order = vec![0u32; start[nb]];
    for (i, &k) in keys.iter().enumerate() {
        if (k as usize) < nb {
            order[cursor[k as usize]] = i as u32;
            cursor[k as usize] += 1;
        }
    }
    (order, start)
}

/// `dimg[i, corner, ch] += w · dy[i, o, ch]` over all output voxels `o` and their corners, in
/// the fixed order described in the module docs.
fn image_grad(coords: &[f32], dy: &[f32], g: SampleGeom) -> Vec<f32> {
    let c = g.c;
    let [di, hi, wi] = g.in_dims;
    let plane = hi * wi * c;
    let (vin, vout) = (di * plane, volume(g.out_dims));
    let mut dimg = vec![0.0; g.n * vin];
    if dimg.is_empty() || vout == 0 {
        return dimg;
    }
    // Slab work items: (sample, first plane, the slab's planes of dimg).
    let mut items = Vec::new();
    for (i, sample) in dimg.chunks_mut(vin).enumerate() {
        for (s, slab) in sample.chunks_mut(SLAB * plane).enumerate() {
            items.push((i, s * SLAB, slab));
        }
    }
    let sorted: Vec<(Vec<u32>, Vec<usize>)> = coords
        .par_chunks(vout * 3)
        .map(|coords| buckets(&plane_keys(coords, &g), di + 1))
        .collect();
    items.into_par_iter().for_each(|(i, z0, slab)| {
        let z1 = z0 + slab.len() / plane;
        let (order, start) = &sorted[i];
        let coords = &coords[i * vout * 3..(i + 1) * vout * 3];
        let dy = &dy[i * vout * c..(i + 1) * vout * c];
        // Bucket b holds lower plane b − 1: planes z0..z1 are touched by buckets z0..=z1.
        for &o in &order[start[z0]..start[z1 + 1]] {
            let o = o as usize;
            let k = Corners::new(&coords[3 * o..3 * o + 3], &g);
            let d = &dy[o * c..(o + 1) * c];
            for j in 0..8 {
                let z = k.l[2].i[j >> 2];
                if !k.ok[j] || z < z0 || z >= z1 {
                    continue;
                }
                let base = k.off[j] - z0 * plane;
                let w = k.weight(j);
                for (t, &d) in slab[base..base + c].iter_mut().zip(d) {
                    *t += w * d;
                }
            }
        }
    });
    dimg
}
