//! The left-hand matrix of a convolution's implicit GEMM: which values of a channels-last
//! volume make the im2col row of a voxel. Rows are either copied (the im2col gather, with
//! zeros where the kernel reaches past the border) or, for the voxels of a line whose taps are
//! all inside along W, described in place as [`Seg`]ments.

use super::kernel::Seg;

/// The positions a gathered row reads along each axis, `base + offset` for each offset, in
/// row order (depth taps outermost, then height, then width, then the `c` channels).
pub struct Taps {
    /// Offsets along D, H and W.
    pub offs: [Vec<i64>; 3],
    /// Channels per position.
    pub c: usize,
}

impl Taps {
    /// Taps with the given offsets per axis and `c` channels per position.
    pub fn new(offs: [Vec<i64>; 3], c: usize) -> Taps {
        Taps { offs, c }
    }

    /// Values in a row: positions times channels.
    pub fn row_len(&self) -> usize {
        self.offs.iter().map(Vec::len).product::<usize>() * self.c
    }

    /// True when the W offsets are consecutive integers, so an in-range run of them is one
    /// contiguous copy.
    fn w_contiguous(&self) -> bool {
        self.offs[2].windows(2).all(|p| p[1] == p[0] + 1)
    }

    /// The rows `j < rows` of a line whose W positions `w0 + j·step + offset` are inside
    /// `0..width` for every offset, as a range (empty when there are none).
    pub fn interior(&self, rows: usize, w0: i64, step: usize, width: usize) -> (usize, usize) {
        let ow = &self.offs[2];
        let (first, last) = (w0 + ow[0], w0 + ow[ow.len() - 1]);
        let step = step as i64;
        let lo = if first >= 0 {
            0
        } else {
            (-first + step - 1) / step
        };
        let hi = if last >= width as i64 {
            0
        } else {
            (width as i64 - 1 - last) / step + 1
        };
        let (lo, hi) = (lo as usize, (hi as usize).min(rows));
        if lo < hi { (lo, hi) } else { (0, 0) }
    }

    /// Appends the segments of a row at base `[d, h, w]` of a sample of `[dims, c]` whose W
    /// taps are all inside: one per in-range (D, H) tap pair (one per tap when the W offsets
    /// are not consecutive); out-of-range pairs read zeros and are left out.
    pub fn segments(&self, dims: [usize; 3], base: [i64; 3], out: &mut Vec<Seg>) {
        let c = self.c;
        let [od, oh, ow] = &self.offs;
        let (nh, nw) = (oh.len(), ow.len());
        let inside = |v: i64, n: usize| v >= 0 && (v as usize) < n;
        let contiguous = self.w_contiguous();
        for (td, &dd) in od.iter().enumerate() {
            let d = base[0] + dd;
            if !inside(d, dims[0]) {
                continue;
            }
            for (th, &dh) in oh.iter().enumerate() {
                let h = base[1] + dh;
                if !inside(h, dims[1]) {
                    continue;
                }
                let line = (d as usize * dims[1] + h as usize) * dims[2];
                let k0 = (td * nh + th) * nw * c;
                if contiguous {
                    let w = (base[2] + ow[0]) as usize;
                    out.push(Seg {
                        a_off: (line + w) * c,
                        k0,
                        len: nw * c,
                    });
                } else {
                    for (tw, &dw) in ow.iter().enumerate() {
                        let w = (base[2] + dw) as usize;
                        out.push(Seg {
                            a_off: (line + w) * c,
                            k0: k0 + tw * c,
                            len: c,
                        });
                    }
                }
            }
        }
    }
}

/// Walks the voxels `[b, d, h, w]` of a batch of `[dims]` volumes in row-major order.
#[derive(Clone, Copy, Debug)]
pub struct Cursor {
    dims: [usize; 3],
    /// Sample index.
    pub b: usize,
    /// Position `[d, h, w]` inside the sample.
    pub p: [usize; 3],
}

impl Cursor {
    /// The cursor at flat voxel index `i`.
    pub fn at(i: usize, dims: [usize; 3]) -> Cursor {
        let [d, h, w] = dims;
        let s = i % (d * h * w);
        Cursor {
            dims,
            b: i / (d * h * w),
            p: [s / (h * w), s / w % h, s % w],
        }
    }

    /// Moves to the next voxel.
    pub fn advance(&mut self) {
        self.p[2] += 1;
        if self.p[2] == self.dims[2] {
            self.p[2] = 0;
            self.p[1] += 1;
            if self.p[1] == self.dims[1] {
                self.p[1] = 0;
                self.p[0] += 1;
                if self.p[0] == self.dims[0] {
                    self.p[0] = 0;
                    self.b += 1;
                }
            }
        }
    }
}

/// Fills `dst` with the row of `taps` at `base` in the sample `src` (`[dims, c]`): for each
/// tap position in range, the `c` channels found there, else zeros; then zeros to the end of
/// `dst` (which must hold at least [`Taps::row_len`] values).
pub fn gather_row(dst: &mut [f32], src: &[f32], dims: [usize; 3], taps: &Taps, base: [i64; 3]) {
    let c = taps.c;
    let [od, oh, ow] = &taps.offs;
    let run = ow.len() * c;
    let plane = oh.len() * run;
    let contiguous = taps.w_contiguous();
    let inside = |v: i64, n: usize| v >= 0 && (v as usize) < n;
    let mut at = 0;
    for &dd in od {
        let d = base[0] + dd;
        if !inside(d, dims[0]) {
            dst[at..at + plane].fill(0.0);
            at += plane;
            continue;
        }
        for &dh in oh {
            let h = base[1] + dh;
            if !inside(h, dims[1]) {
                dst[at..at + run].fill(0.0);
                at += run;
                continue;
            }
            let line = &src[(d as usize * dims[1] + h as usize) * dims[2] * c..][..dims[2] * c];
            let (w0, w1) = (base[2] + ow[0], base[2] + ow[ow.len() - 1]);
            if contiguous && inside(w0, dims[2]) && inside(w1, dims[2]) {
                dst[at..at + run].copy_from_slice(&line[w0 as usize * c..][..run]);
                at += run;
                continue;
            }
            for &dw in ow {
                let w = base[2] + dw;
                let out = &mut dst[at..at + c];
                if inside(w, dims[2]) {
                    out.copy_from_slice(&line[w as usize * c..][..c]);
                } else {
                    out.fill(0.0);
                }
                at += c;
            }
        }
    }
    dst[at..].fill(0.0);
}
