//! Plain descriptions of what an op computes (sizes, strides, modes), passed to every backend.
//! They hold no data and are validated once, where the op builds them, so backends can trust them.

use crate::error::{Error, Result};

/// Geometry of a 3D convolution on channels-last data.
///
/// Input `[n, in_dims, cin]`, weight `[k, k, k, cin, cout]` (DHWIO, Keras' layout: the weight is
/// the `[k³·cin, cout]` matrix of an implicit GEMM), bias `[cout]`, output `[n, out_dims, cout]`.
/// Padding follows Keras/TensorFlow "same": `out = ceil(in / stride)`, and the total padding
/// `max((out-1)·stride + (k-1)·dilation + 1 - in, 0)` is split with the smaller half before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv3dGeom {
    pub n: usize,
    pub in_dims: [usize; 3],
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_before: [usize; 3],
    pub out_dims: [usize; 3],
}

impl Conv3dGeom {
    /// "same"-padded geometry for input `[n, d, h, w, cin]` and a `k³` kernel to `cout` channels.
    pub fn same(
        x: [usize; 5],
        k: usize,
        cout: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<Self> {
        let op = "conv3d";
        if k == 0 || k.is_multiple_of(2) {
            return Err(Error::Invalid {
                op,
                msg: format!("kernel size must be odd, got {k}"),
            });
        }
        if stride == 0 || dilation == 0 {
            return Err(Error::Invalid {
                op,
                msg: format!("stride ({stride}) and dilation ({dilation}) must be at least 1"),
            });
        }
        let [n, d, h, w, cin] = x;
        if n == 0 || d == 0 || h == 0 || w == 0 || cin == 0 || cout == 0 {
            return Err(Error::Invalid {
                op,
                msg: format!("empty input {x:?} or zero output channels ({cout})"),
            });
        }
        let in_dims = [d, h, w];
        let mut out_dims = [0; 3];
        let mut pad_before = [0; 3];
        for a in 0..3 {
            let out = in_dims[a].div_ceil(stride);
            let total = ((out - 1) * stride + (k - 1) * dilation + 1).saturating_sub(in_dims[a]);
            out_dims[a] = out;
            pad_before[a] = total / 2;
        }
        Ok(Conv3dGeom {
            n,
            in_dims,
            cin,
            cout,
            k,
            stride,
            dilation,
            pad_before,
            out_dims,
        })
    }

    /// Input voxels per sample.
    pub fn in_voxels(&self) -> usize {
        self.in_dims.iter().product()
    }

    /// Output voxels per sample.
    pub fn out_voxels(&self) -> usize {
        self.out_dims.iter().product()
    }

    /// Number of weights, `k³·cin·cout`.
    pub fn weight_len(&self) -> usize {
        self.k * self.k * self.k * self.cin * self.cout
    }

    /// Multiply-adds of the forward pass times two.
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.out_voxels()) as f64 * (self.k.pow(3) * self.cin * self.cout) as f64
    }
}

/// How a normalization groups its statistics over a `[n, s, c]` view of the data
/// (`s` = spatial voxels per sample).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormGeom {
    pub n: usize,
    pub s: usize,
    pub c: usize,
    /// `false`: one mean/variance per channel over `n·s` values (BatchNorm);
    /// `true`: one per sample and channel over `s` values (InstanceNorm).
    pub per_sample: bool,
}

impl NormGeom {
    /// Number of statistics (`c` or `n·c`).
    pub fn groups(&self) -> usize {
        if self.per_sample {
            self.n * self.c
        } else {
            self.c
        }
    }
    /// Values reduced per statistic.
    pub fn group_len(&self) -> usize {
        if self.per_sample {
            self.s
        } else {
            self.n * self.s
        }
    }
}

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

/// Row-major matrix product `C[m, n] = op(A)[m, k] · op(B)[k, n]`, where `op` transposes when
/// the flag is set (then `A` is stored `[k, m]`, `B` stored `[n, k]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulGeom {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

/// Elementwise functions of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    /// `a·x + b`.
    Affine(f32, f32),
}

/// Elementwise functions of two equally shaped tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
}

/// What trilinear sampling reads outside the volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Padding {
    /// Coordinates are clamped to the volume, so the edge value repeats (the original's default).
    #[default]
    Border,
    /// Corners outside the volume read zero (the paper's choice).
    Zeros,
}

/// Trilinear sampling of `img [n, in_dims, c]` at `coords [n, out_dims, 3]` → `[n, out_dims, c]`.
/// Coordinate channel 0 indexes W (x), 1 indexes H (y), 2 indexes D (z), in voxels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleGeom {
    pub n: usize,
    pub in_dims: [usize; 3],
    pub out_dims: [usize; 3],
    pub c: usize,
    pub padding: Padding,
}

/// A volume `[n, dims, c]`, as seen by spatial ops such as the cumulative sum and the losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolGeom {
    pub n: usize,
    pub dims: [usize; 3],
    pub c: usize,
}

impl VolGeom {
    /// From `[n, d, h, w, c]`.
    pub fn from5(x: [usize; 5]) -> Self {
        VolGeom {
            n: x[0],
            dims: [x[1], x[2], x[3]],
            c: x[4],
        }
    }
    /// Voxels per sample.
    pub fn voxels(&self) -> usize {
        self.dims.iter().product()
    }
    /// All values.
    pub fn len(&self) -> usize {
        self.n * self.voxels() * self.c
    }
    /// True when it holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Losses between a prediction `a` and a target `b` of the same shape, reduced to one scalar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossKind {
    /// Mean of `(a-b)²` over all values.
    Mse,
    /// Mean of `|a-b|` over all values.
    Mae,
    /// `-r`, the Pearson correlation of each sample over all its values (voxels and channels),
    /// averaged over samples: `r = cov / √(var_a·var_b + 1e-10)` with population moments
    /// (`1/m`), so a constant image gives `r = 0` rather than NaN.
    Ncc,
    /// `-mean(cc)` over all voxels, channels and samples: local squared correlation in a
    /// `window³` box (odd `window`, centred, "same" zero padding) per channel,
    /// `cc = cross² / (var_a·var_b + 1e-5)` with box sums `cross = Σab - ΣaΣb/n`,
    /// `var_a = Σa² - (Σa)²/n` (clamped at 0 against rounding), `var_b` likewise, and
    /// `n = window³` also at the border (the padded zeros count, as VoxelMorph's convolution
    /// with ones).
    Lncc { window: usize },
    /// `1 - (2Σab + ε) / (Σa + Σb + ε)` per sample (sums over all its voxels and channels) with
    /// `ε = 1e-5`, averaged over samples.
    Dice,
}

/// One Adam update with the step size already folded in (Keras: `lr_t = lr·√(1-β2ᵗ)/(1-β1ᵗ)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub lr_t: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}
