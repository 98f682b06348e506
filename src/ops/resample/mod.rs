//! Resampling ops on channels-last volumes `[N, D, H, W, C]`: nearest ×2 upsampling (to an even
//! or odd target size), 2³ max pooling with stride 2, global average pooling, and concatenating
//! or slicing along the channel dimension — each with its gradient.

pub mod cpu;
pub(crate) mod gpu;

use crate::autograd::{BackwardOp, record};
use crate::backend::Buffer;
use crate::error::{Error, Result};
use crate::ops::{VolGeom, same_device};
use crate::tensor::{Shape, Tensor};

/// Nearest-neighbour ×2 upsampling `[n, in_dims, c]` → `[n, out_dims, c]`, where output index `o`
/// reads input index `o / 2` and each `out_dims[a]` is `2·in_dims[a]` or `2·in_dims[a] - 1`
/// (an odd target size, as when the skip connection it meets had an odd size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpsampleGeom {
    pub n: usize,
    pub in_dims: [usize; 3],
    pub out_dims: [usize; 3],
    pub c: usize,
}

/// Max pooling with a 2³ window and stride 2 ("valid": `out = in / 2`, rounded down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    pub n: usize,
    pub in_dims: [usize; 3],
    pub c: usize,
}

impl PoolGeom {
    /// Output spatial size.
    pub fn out_dims(&self) -> [usize; 3] {
        self.in_dims.map(|d| d / 2)
    }
}

/// What a device computes for the resampling and pooling family. Part of
/// [`Backend`](crate::ops::Backend).
pub trait ResampleKernel {
    /// Nearest ×2 upsampling.
    fn upsample_nearest(&self, x: &Buffer, g: UpsampleGeom) -> Result<Buffer>;
    /// Its gradient: each input voxel sums the output voxels that read it.
    fn upsample_nearest_bwd(&self, dy: &Buffer, g: UpsampleGeom) -> Result<Buffer>;
    /// 2³ max pooling, stride 2.
    fn max_pool(&self, x: &Buffer, g: PoolGeom) -> Result<Buffer>;
    /// Its gradient, routed to the first maximum of each window (recomputed from `x`).
    fn max_pool_bwd(&self, x: &Buffer, dy: &Buffer, g: PoolGeom) -> Result<Buffer>;
    /// Mean over the voxels of each sample and channel: `[n, s, c]` → `[n, c]`.
    fn global_avg_pool(&self, x: &Buffer, g: VolGeom) -> Result<Buffer>;
    /// Its gradient, `dy[i, ch] / s` at every voxel.
    fn global_avg_pool_bwd(&self, dy: &Buffer, g: VolGeom) -> Result<Buffer>;
    /// Concatenates along the innermost dimension: part `i` is `[rows, cs[i]]`.
    fn concat_channels(&self, parts: &[&Buffer], cs: &[usize], rows: usize) -> Result<Buffer>;
    /// The inverse of [`ResampleKernel::concat_channels`].
    fn split_channels(&self, x: &Buffer, cs: &[usize], rows: usize) -> Result<Vec<Buffer>>;
}

/// `[N, D, H, W, C]` of a non-empty volume, or an error naming `op`.
fn volume(op: &'static str, x: &Tensor) -> Result<[usize; 5]> {
    let dims = x.shape().dims5(op)?;
    if x.numel() == 0 {
        return Err(Error::Invalid {
            op,
            msg: format!("input {} is empty", x.shape()),
        });
    }
    Ok(dims)
}

/// Nearest ×2 upsampling of `x [N,D,H,W,C]` to spatial size `out` (each `2·in` or `2·in-1`).
///
/// Output index `o` reads input index `o / 2` on every axis; an odd target (`2·in - 1`) drops
/// the last copy, as when the result meets an odd-sized skip connection. The gradient of each
/// input voxel is the sum of the output gradients that read it.
pub fn upsample_nearest(x: &Tensor, out: [usize; 3]) -> Result<Tensor> {
    let op = "upsample_nearest";
    let [n, d, h, w, c] = volume(op, x)?;
    let in_dims = [d, h, w];
    if (0..3).any(|a| out[a] != 2 * in_dims[a] && out[a] + 1 != 2 * in_dims[a]) {
        return Err(Error::Shape {
            op,
            msg: format!(
                "target size {out:?} must be 2·in or 2·in - 1 on every axis of input {}",
                x.shape()
            ),
        });
    }
    let g = UpsampleGeom {
        n,
        in_dims,
        out_dims: out,
        c,
    };
    let y = x.backend()?.upsample_nearest(x.buffer(), g)?;
    let shape = Shape::new([n, out[0], out[1], out[2], c]);
    record(Tensor::from_buffer(y, shape), &[x], UpsampleBwd { g })
}

struct UpsampleBwd {
    g: UpsampleGeom,
}

impl BackwardOp for UpsampleBwd {
    fn name(&self) -> &'static str {
        "upsample_nearest"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let g = self.g;
        let dx = dy.backend()?.upsample_nearest_bwd(dy.buffer(), g)?;
        let [d, h, w] = g.in_dims;
        let shape = Shape::new([g.n, d, h, w, g.c]);
        Ok(vec![Some(Tensor::from_buffer(dx, shape))])
    }
}

/// 2³ max pool, stride 2: `[N, D, H, W, C]` → `[N, D/2, H/2, W/2, C]` (rounded down; a trailing
/// odd plane, row or column is dropped). The gradient of each window goes to its first maximum
/// in scan order (d, h, w). Errors: not a rank-5 tensor, or a spatial size below 2.
pub fn max_pool(x: &Tensor) -> Result<Tensor> {
    let op = "max_pool";
    let [n, d, h, w, c] = volume(op, x)?;
    if d < 2 || h < 2 || w < 2 {
        return Err(Error::Shape {
            op,
            msg: format!(
                "input {} needs at least 2 voxels on every spatial axis",
                x.shape()
            ),
        });
    }
    let g = PoolGeom {
        n,
        in_dims: [d, h, w],
        c,
    };
    let y = x.backend()?.max_pool(x.buffer(), g)?;
    let [od, oh, ow] = g.out_dims();
    let shape = Shape::new([n, od, oh, ow, c]);
    record(
        Tensor::from_buffer(y, shape),
        &[x],
        MaxPoolBwd { x: x.detach(), g },
    )
}

struct MaxPoolBwd {
    x: Tensor,
    g: PoolGeom,
}

impl BackwardOp for MaxPoolBwd {
    fn name(&self) -> &'static str {
        "max_pool"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let dx = self
            .x
            .backend()?
            .max_pool_bwd(self.x.buffer(), dy.buffer(), self.g)?;
        Ok(vec![Some(Tensor::from_buffer(dx, self.x.shape().clone()))])
    }
}

/// `[N,D,H,W,C]` → `[N,C]` mean over the voxels of each sample and channel.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let op = "global_avg_pool";
    let g = VolGeom::from5(volume(op, x)?);
    let y = x.backend()?.global_avg_pool(x.buffer(), g)?;
    let shape = Shape::new([g.n, g.c]);
    record(Tensor::from_buffer(y, shape), &[x], GlobalAvgPoolBwd { g })
}

struct GlobalAvgPoolBwd {
    g: VolGeom,
}

impl BackwardOp for GlobalAvgPoolBwd {
    fn name(&self) -> &'static str {
        "global_avg_pool"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let g = self.g;
        let dx = dy.backend()?.global_avg_pool_bwd(dy.buffer(), g)?;
        let shape = Shape::new([g.n, g.dims[0], g.dims[1], g.dims[2], g.c]);
        Ok(vec![Some(Tensor::from_buffer(dx, shape))])
    }
}

/// Concatenation along the last (channel) dimension; all other dimensions equal.
///
/// Errors: no parts, a scalar or zero-channel part, parts whose leading dimensions differ,
/// or parts on different devices.
pub fn concat_channels(xs: &[&Tensor]) -> Result<Tensor> {
    let op = "concat_channels";
    let first = xs.first().ok_or_else(|| Error::Invalid {
        op,
        msg: "no tensors to concatenate".into(),
    })?;
    same_device(op, xs)?;
    let lead = match first.dims().split_last() {
        Some((_, lead)) => lead,
        None => {
            return Err(Error::Shape {
                op,
                msg: format!("cannot concatenate scalar {}", first.shape()),
            });
        }
    };
    let mut cs = Vec::with_capacity(xs.len());
    for t in xs {
        match t.dims().split_last() {
            Some((&c, l)) if l == lead && c > 0 => cs.push(c),
            _ => {
                let shapes: Vec<String> = xs.iter().map(|t| t.shape().to_string()).collect();
                return Err(Error::Shape {
                    op,
                    msg: format!(
                        "parts must agree on all but the last dimension and have at least \
                         one channel, got {}",
                        shapes.join(", ")
                    ),
                });
            }
        }
    }
    let rows: usize = lead.iter().product();
    let bufs: Vec<_> = xs.iter().map(|t| t.buffer()).collect();
    let y = first.backend()?.concat_channels(&bufs, &cs, rows)?;
    let mut dims = lead.to_vec();
    dims.push(cs.iter().sum());
    record(
        Tensor::from_buffer(y, Shape::new(dims)),
        xs,
        ConcatBwd {
            shapes: xs.iter().map(|t| t.shape().clone()).collect(),
            cs,
            rows,
        },
    )
}

struct ConcatBwd {
    shapes: Vec<Shape>,
    cs: Vec<usize>,
    rows: usize,
}

impl BackwardOp for ConcatBwd {
    fn name(&self) -> &'static str {
        "concat_channels"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let parts = dy
            .backend()?
            .split_channels(dy.buffer(), &self.cs, self.rows)?;
        Ok(parts
            .into_iter()
            .zip(&self.shapes)
            .map(|(b, s)| Some(Tensor::from_buffer(b, s.clone())))
            .collect())
    }
}

/// Channels `start..start+len` of the last dimension (`len ≥ 1`).
///
/// The gradient scatters `dy` into zeros of `x`'s shape (built on the device as a channel
/// concatenation of zero fills and `dy`). Errors: a scalar `x`, `len = 0`, or a range past the
/// last channel.
pub fn split_channels(x: &Tensor, start: usize, len: usize) -> Result<Tensor> {
    let op = "split_channels";
    let Some((&c, lead)) = x.dims().split_last() else {
        return Err(Error::Shape {
            op,
            msg: format!("cannot slice the channels of scalar {}", x.shape()),
        });
    };
    if len == 0 || start.checked_add(len).is_none_or(|end| end > c) {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "channel range {start}..{} is empty or outside the {c} channels of {}",
                start.saturating_add(len),
                x.shape()
            ),
        });
    }
    let layout = ChannelSlice {
        rows: lead.iter().product(),
        before: start,
        len,
        after: c - start - len,
    };
    let (cs, index) = layout.parts();
    let mut parts = x.backend()?.split_channels(x.buffer(), &cs, layout.rows)?;
    let mut dims = lead.to_vec();
    dims.push(len);
    let y = parts.swap_remove(index);
    record(
        Tensor::from_buffer(y, Shape::new(dims)),
        &[x],
        SplitBwd {
            layout,
            shape: x.shape().clone(),
        },
    )
}

/// Where a channel slice sits in its tensor's `[rows, before + len + after]` view.
#[derive(Clone, Copy)]
struct ChannelSlice {
    rows: usize,
    before: usize,
    len: usize,
    after: usize,
}

impl ChannelSlice {
    /// The non-empty channel widths, and the index of the slice among them.
    fn parts(&self) -> (Vec<usize>, usize) {
        let cs: Vec<usize> = [self.before, self.len, self.after]
            .into_iter()
            .filter(|&w| w > 0)
            .collect();
        (cs, usize::from(self.before > 0))
    }
}

struct SplitBwd {
    layout: ChannelSlice,
    shape: Shape,
}

impl BackwardOp for SplitBwd {
    fn name(&self) -> &'static str {
        "split_channels"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let be = dy.backend()?;
        let l = self.layout;
        let zeros_before = be.fill(l.rows * l.before, 0.0)?;
        let zeros_after = be.fill(l.rows * l.after, 0.0)?;
        let mut bufs = Vec::with_capacity(3);
        if l.before > 0 {
            bufs.push(&zeros_before);
        }
        bufs.push(dy.buffer());
        if l.after > 0 {
            bufs.push(&zeros_after);
        }
        let (cs, _) = l.parts();
        let dx = be.concat_channels(&bufs, &cs, l.rows)?;
        Ok(vec![Some(Tensor::from_buffer(dx, self.shape.clone()))])
    }
}

#[cfg(test)]
mod tests;
