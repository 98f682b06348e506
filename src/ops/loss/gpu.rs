//! Launches of `kernels/loss.cu` (CUDA GPU and emulator): deterministic two-pass reductions and
//! the losses with their gradients.
//!
//! Every reduction adds fixed chunks in `f64` and then the chunk partials in a fixed order (no
//! atomics), so results are bitwise reproducible. Per-sample statistics (`Σa, Σb, ...`) stay on
//! the device as `f64` in a small buffer; the loss, its incoming gradient `dl` and the
//! per-sample gradient coefficients never visit the host. The local NCC runs as separable box
//! filters along W, H and D (see the kernel file's header).
//!
//! At the end, [`LossKernel`] for `GpuBackend` calls the launches above.

use super::LossKernel;
use crate::backend::Buffer;
use crate::backend::gpu::{Arg, GpuBackend, KernelSig, LaunchCfg, Param::*, Runtime};
use crate::error::Result;
use crate::ops::{LossKind, VolGeom};

const FAMILY: &str = "loss";
pub(crate) const REDUCE_PARTIAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_reduce_partial",
    params: &[PtrF32, PtrF32, PtrF32, PtrF32, I64, I32],
};
pub(crate) const REDUCE_FINAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_reduce_final",
    params: &[PtrF32, PtrF32, I32, I32, I32, I32, F32],
};
pub(crate) const LOSS_FINISH: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_loss_finish",
    params: &[PtrF32, PtrF32, I32, I64, I32],
};
pub(crate) const LOSS_COEF: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_loss_coef",
    params: &[PtrF32, PtrF32, PtrF32, I32, I64, I32],
};
pub(crate) const LOSS_GRAD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_loss_grad",
    params: &[
        PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, I64, I64, I32,
    ],
};
pub(crate) const L1_BWD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_l1_bwd",
    params: &[PtrF32, PtrF32, PtrF32, I64],
};
pub(crate) const LNCC_BOX_W: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_lncc_box_w",
    params: &[PtrF32, PtrF32, PtrF32, I64, I32, I32, I32],
};
pub(crate) const BOX_AXIS: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_box_axis",
    params: &[PtrF32, PtrF32, I64, I32, I32, I64, I32],
};
pub(crate) const LNCC_WINDOW: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_lncc_window",
    params: &[PtrF32, PtrF32, PtrF32, I64, I32, I64, I32, I32, I32],
};
pub(crate) const LNCC_GRAD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_lncc_grad",
    params: &[PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, I64, I32, I64, I32],
};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[
    &REDUCE_PARTIAL,
    &REDUCE_FINAL,
    &LOSS_FINISH,
    &LOSS_COEF,
    &LOSS_GRAD,
    &L1_BWD,
    &LNCC_BOX_W,
    &BOX_AXIS,
    &LNCC_WINDOW,
    &LNCC_GRAD,
];

/// Values per block of the first reduction pass (`kRedChunk` in the kernel).
const REDUCE_CHUNK: usize = 8192;
/// `f64` statistics per sample (`kStats` in the kernel).
const STATS: usize = 5;
/// Window sums of the local NCC (`Σa, Σb, Σa², Σb², Σab`) and its gradient coefficients.
const LNCC_SUMS: usize = 5;
const LNCC_COEFS: usize = 7;

/// The terms a reduction adds (`VF_RED_*` in the kernel).
#[derive(Clone, Copy)]
enum Red {
    Sum = 0,
    Abs = 1,
    SqDiff = 2,
    AbsDiff = 3,
    Means = 4,
    Centred = 5,
    Dice = 6,
}

impl Red {
    /// Sums per value.
    fn terms(self) -> usize {
        match self {
            Red::Means => 2,
            Red::Centred | Red::Dice => 3,
            _ => 1,
        }
    }
}

/// The kernels' code of a loss (`VF_MSE`...).
fn kind_code(kind: LossKind) -> i32 {
    match kind {
        LossKind::Mse => 0,
        LossKind::Mae => 1,
        LossKind::Ncc => 2,
        LossKind::Lncc { .. } => 3,
        LossKind::Dice => 4,
    }
}

/// Where the second pass of a reduction writes.
enum Out<'a> {
    /// `y[sample·K + k] = (f32)(Σ · scale)`.
    F32(&'a Buffer, f32),
    /// The `f64` statistics buffer at `stats[sample·STATS + offset + k]`.
    Stats(&'a Buffer, usize),
}

/// The `mode.terms()` sums of `mode`'s terms over each of `samples` samples of `per` values of
/// `a` (and `b`), in a fixed order. `stats` is read by [`Red::Centred`] (the means).
#[allow(clippy::too_many_arguments)]
fn reduce_into(
    rt: &dyn Runtime,
    mode: Red,
    a: &Buffer,
    b: &Buffer,
    stats: &Buffer,
    samples: usize,
    per: usize,
    out: Out,
) -> Result<()> {
    let chunks = per.div_ceil(REDUCE_CHUNK).max(1);
    let k = mode.terms();
    // One f64 per (sample, chunk, term), stored as two f32 slots.
    let partial = rt.alloc(2 * samples * chunks * k)?;
    rt.launch(
        &REDUCE_PARTIAL,
        LaunchCfg::new([chunks as u32, samples as u32, 1], [256, 1, 1], 0),
        &[
            Arg::Buf(&partial),
            Arg::Buf(a),
            Arg::Buf(b),
            Arg::Buf(stats),
            Arg::I64(per as i64),
            Arg::I32(mode as i32),
        ],
    )?;
    let (dst, offset, f32_out, scale) = match out {
        Out::F32(y, scale) => (y, 0, 1, scale),
        Out::Stats(s, offset) => (s, offset, 0, 1.0),
    };
    rt.launch(
        &REDUCE_FINAL,
        LaunchCfg::new([samples as u32, 1, 1], [256, 1, 1], 0),
        &[
            Arg::Buf(dst),
            Arg::Buf(&partial),
            Arg::I32(chunks as i32),
            Arg::I32(k as i32),
            Arg::I32(offset as i32),
            Arg::I32(f32_out),
            Arg::F32(scale),
        ],
    )
}

/// `Σ f(x)` as a one-element buffer, in a fixed order.
fn reduce(rt: &dyn Runtime, x: &Buffer, mode: Red) -> Result<Buffer> {
    let y = rt.alloc(1)?;
    reduce_into(rt, mode, x, x, x, 1, x.len(), Out::F32(&y, 1.0))?;
    Ok(y)
}

pub(crate) fn sum(rt: &dyn Runtime, x: &Buffer) -> Result<Buffer> {
    reduce(rt, x, Red::Sum)
}

pub(crate) fn l1(rt: &dyn Runtime, x: &Buffer) -> Result<Buffer> {
    reduce(rt, x, Red::Abs)
}

pub(crate) fn l1_bwd(rt: &dyn Runtime, x: &Buffer, dl: &Buffer) -> Result<Buffer> {
    let n = x.len();
    let dx = rt.alloc(n)?;
    rt.launch(
        &L1_BWD,
        LaunchCfg::elementwise(n),
        &[Arg::Buf(&dx), Arg::Buf(x), Arg::Buf(dl), Arg::I64(n as i64)],
    )?;
    Ok(dx)
}

/// The per-sample statistics a global loss needs, as `STATS` doubles per sample: `[Σ]` of the
/// whole tensor for mse/mae (one "sample"), `[Σa, Σb, Σ(a-μa)(b-μb), Σ(a-μa)², Σ(b-μb)²]`
/// for ncc, `[Σa, Σb, Σab]` for dice. Returns the buffer and its sample count.
fn global_stats(
    rt: &dyn Runtime,
    kind: LossKind,
    a: &Buffer,
    b: &Buffer,
    g: VolGeom,
) -> Result<(Buffer, usize)> {
    let (samples, per) = match kind {
        LossKind::Mse | LossKind::Mae => (1, g.len()),
        _ => (g.n, g.voxels() * g.c),
    };
    let stats = rt.alloc(2 * STATS * samples)?;
    let pass = |mode, offset| {
        reduce_into(
            rt,
            mode,
            a,
            b,
            &stats,
            samples,
            per,
            Out::Stats(&stats, offset),
        )
    };
    match kind {
        LossKind::Mse => pass(Red::SqDiff, 0)?,
        LossKind::Mae => pass(Red::AbsDiff, 0)?,
        LossKind::Ncc => {
            // Two passes (means, then centred sums) for accuracy, as on the CPU.
            pass(Red::Means, 0)?;
            pass(Red::Centred, 2)?;
        }
        LossKind::Dice => pass(Red::Dice, 0)?,
        LossKind::Lncc { .. } => unreachable!("the local NCC has no global statistics"),
    }
    Ok((stats, samples))
}

/// `y[0]` = the loss from statistics of `samples` samples of `per` values.
fn finish(
    rt: &dyn Runtime,
    kind: LossKind,
    stats: &Buffer,
    samples: usize,
    per: usize,
) -> Result<Buffer> {
    let y = rt.alloc(1)?;
    rt.launch(
        &LOSS_FINISH,
        LaunchCfg::new([1, 1, 1], [1, 1, 1], 0),
        &[
            Arg::Buf(&y),
            Arg::Buf(stats),
            Arg::I32(samples as i32),
            Arg::I64(per as i64),
            Arg::I32(kind_code(kind)),
        ],
    )?;
    Ok(y)
}

pub(crate) fn loss(
    rt: &dyn Runtime,
    kind: LossKind,
    a: &Buffer,
    b: &Buffer,
    g: VolGeom,
) -> Result<Buffer> {
    match kind {
        LossKind::Lncc { window } => {
            let cc = lncc_cc(rt, a, b, g, window)?;
            let stats = rt.alloc(2 * STATS)?;
            reduce_into(
                rt,
                Red::Sum,
                &cc,
                &cc,
                &cc,
                1,
                g.len(),
                Out::Stats(&stats, 0),
            )?;
            finish(rt, kind, &stats, 1, g.len())
        }
        LossKind::Mse | LossKind::Mae => {
            let (stats, _) = global_stats(rt, kind, a, b, g)?;
            finish(rt, kind, &stats, 1, g.len())
        }
        LossKind::Ncc | LossKind::Dice => {
            let (stats, samples) = global_stats(rt, kind, a, b, g)?;
            finish(rt, kind, &stats, samples, g.voxels() * g.c)
        }
    }
}

pub(crate) fn loss_bwd(
    rt: &dyn Runtime,
    kind: LossKind,
    a: &Buffer,
    b: &Buffer,
    dl: &Buffer,
    g: VolGeom,
) -> Result<(Buffer, Buffer)> {
    if let LossKind::Lncc { window } = kind {
        return lncc_bwd(rt, a, b, dl, g, window);
    }
    let n = g.len();
    let per = g.voxels() * g.c;
    // mse and mae need only dl (the coefficient argument is then unused).
    let coef = match kind {
        LossKind::Ncc | LossKind::Dice => {
            let (stats, samples) = global_stats(rt, kind, a, b, g)?;
            let coef = rt.alloc(2 * STATS * samples)?;
            rt.launch(
                &LOSS_COEF,
                LaunchCfg::linear(samples, 32),
                &[
                    Arg::Buf(&coef),
                    Arg::Buf(&stats),
                    Arg::Buf(dl),
                    Arg::I32(samples as i32),
                    Arg::I64(per as i64),
                    Arg::I32(kind_code(kind)),
                ],
            )?;
            Some(coef)
        }
        _ => None,
    };
    let da = rt.alloc(n)?;
    let db = rt.alloc(n)?;
    rt.launch(
        &LOSS_GRAD,
        LaunchCfg::elementwise(n),
        &[
            Arg::Buf(&da),
            Arg::Buf(&db),
            Arg::Buf(a),
            Arg::Buf(b),
            Arg::Buf(coef.as_ref().unwrap_or(dl)),
            Arg::Buf(dl),
            Arg::I64(n as i64),
            Arg::I64(per as i64),
            Arg::I32(kind_code(kind)),
        ],
    )?;
    Ok((da, db))
}

// ---- local NCC ----

/// Element strides of the H and D axes of `g`.
fn strides(g: VolGeom) -> (usize, usize) {
    let [_, h, w] = g.dims;
    (w * g.c, h * w * g.c)
}

/// Box sums along H (stride `sh`) of `k` `f64` fields of `src` into a new buffer.
fn box_h(rt: &dyn Runtime, src: &Buffer, k: usize, g: VolGeom, r: usize) -> Result<Buffer> {
    let total = g.len();
    let (sh, _) = strides(g);
    let dst = rt.alloc(2 * k * total)?;
    rt.launch(
        &BOX_AXIS,
        LaunchCfg::elementwise(total),
        &[
            Arg::Buf(&dst),
            Arg::Buf(src),
            Arg::I64(total as i64),
            Arg::I32(k as i32),
            Arg::I32(g.dims[1] as i32),
            Arg::I64(sh as i64),
            Arg::I32(r as i32),
        ],
    )?;
    Ok(dst)
}

/// The five window sums over W and H (`f64`, field-major), ready for the D pass.
fn lncc_sums_wh(rt: &dyn Runtime, a: &Buffer, b: &Buffer, g: VolGeom, r: usize) -> Result<Buffer> {
    let total = g.len();
    let sums_w = rt.alloc(2 * LNCC_SUMS * total)?;
    rt.launch(
        &LNCC_BOX_W,
        LaunchCfg::elementwise(total),
        &[
            Arg::Buf(&sums_w),
            Arg::Buf(a),
            Arg::Buf(b),
            Arg::I64(total as i64),
            Arg::I32(g.dims[2] as i32),
            Arg::I32(g.c as i32),
            Arg::I32(r as i32),
        ],
    )?;
    box_h(rt, &sums_w, LNCC_SUMS, g, r)
}

/// The D pass and the window statistics: `cc` per value (mode 0, `f32`) or the seven
/// gradient coefficients (mode 1, `f64` fields, scaled by `-dl / len`).
fn lncc_window(
    rt: &dyn Runtime,
    sums: &Buffer,
    dl: Option<&Buffer>,
    g: VolGeom,
    window: usize,
) -> Result<Buffer> {
    let total = g.len();
    let (_, sd) = strides(g);
    let out = match dl {
        None => rt.alloc(total)?,
        Some(_) => rt.alloc(2 * LNCC_COEFS * total)?,
    };
    rt.launch(
        &LNCC_WINDOW,
        LaunchCfg::elementwise(total),
        &[
            Arg::Buf(&out),
            Arg::Buf(sums),
            Arg::Buf(dl.unwrap_or(sums)),
            Arg::I64(total as i64),
            Arg::I32(g.dims[0] as i32),
            Arg::I64(sd as i64),
            Arg::I32((window / 2) as i32),
            Arg::I32(window as i32),
            Arg::I32(dl.is_some() as i32),
        ],
    )?;
    Ok(out)
}

/// `cc` of every window (one `f32` per value).
fn lncc_cc(rt: &dyn Runtime, a: &Buffer, b: &Buffer, g: VolGeom, window: usize) -> Result<Buffer> {
    let sums = lncc_sums_wh(rt, a, b, g, window / 2)?;
    lncc_window(rt, &sums, None, g, window)
}

/// The gradient of the local NCC: the window coefficients box-summed again (W, H, then D fused
/// with the final per-value combination).
fn lncc_bwd(
    rt: &dyn Runtime,
    a: &Buffer,
    b: &Buffer,
    dl: &Buffer,
    g: VolGeom,
    window: usize,
) -> Result<(Buffer, Buffer)> {
    let total = g.len();
    let r = window / 2;
    let coef = {
        let sums = lncc_sums_wh(rt, a, b, g, r)?;
        lncc_window(rt, &sums, Some(dl), g, window)?
    };
    let coef_w = rt.alloc(2 * LNCC_COEFS * total)?;
    rt.launch(
        &BOX_AXIS,
        LaunchCfg::elementwise(total),
        &[
            Arg::Buf(&coef_w),
            Arg::Buf(&coef),
            Arg::I64(total as i64),
            Arg::I32(LNCC_COEFS as i32),
            Arg::I32(g.dims[2] as i32),
            Arg::I64(g.c as i64),
            Arg::I32(r as i32),
        ],
    )?;
    drop(coef);
    let coef_wh = box_h(rt, &coef_w, LNCC_COEFS, g, r)?;
    drop(coef_w);
    let (_, sd) = strides(g);
    let da = rt.alloc(total)?;
    let db = rt.alloc(total)?;
    rt.launch(
        &LNCC_GRAD,
        LaunchCfg::elementwise(total),
        &[
            Arg::Buf(&da),
            Arg::Buf(&db),
            Arg::Buf(&coef_wh),
            Arg::Buf(a),
            Arg::Buf(b),
            Arg::I64(total as i64),
            Arg::I32(g.dims[0] as i32),
            Arg::I64(sd as i64),
            Arg::I32(r as i32),
        ],
    )?;
    Ok((da, db))
}

impl LossKernel for GpuBackend {
    fn sum(&self, x: &Buffer) -> Result<Buffer> {
        sum(self.runtime(), x)
    }
    fn l1(&self, x: &Buffer) -> Result<Buffer> {
        l1(self.runtime(), x)
    }
    fn l1_bwd(&self, x: &Buffer, dl: &Buffer) -> Result<Buffer> {
        l1_bwd(self.runtime(), x, dl)
    }
    fn loss(&self, kind: LossKind, a: &Buffer, b: &Buffer, g: VolGeom) -> Result<Buffer> {
        loss(self.runtime(), kind, a, b, g)
    }
    fn loss_bwd(
        &self,
        kind: LossKind,
        a: &Buffer,
        b: &Buffer,
        dl: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        loss_bwd(self.runtime(), kind, a, b, dl, g)
    }
}
