//! Dense (fully connected, no bias) layer math: `y[N, out] = x[N, in] · w[in, out]`, and the
//! general matrix product it and its backward pass are built on.

pub mod cpu;
pub(crate) mod gpu;

use crate::autograd::{BackwardOp, record};
use crate::backend::Buffer;
use crate::error::{Error, Result};
use crate::ops::same_device;
use crate::tensor::{Shape, Tensor};

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

/// What a device computes for the dense family. Part of [`Backend`](crate::ops::Backend).
pub trait DenseKernel {
    /// Matrix product.
    fn matmul(&self, a: &Buffer, b: &Buffer, g: MatmulGeom) -> Result<Buffer>;
}

fn matmul(a: &Tensor, b: &Tensor, g: MatmulGeom) -> Result<Tensor> {
    let y = a.backend()?.matmul(a.buffer(), b.buffer(), g)?;
    Ok(Tensor::from_buffer(y, Shape::new([g.m, g.n])))
}

/// `x [N, Cin] · w [Cin, Cout]` → `[N, Cout]`.
pub fn dense(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let op = "dense";
    same_device(op, &[x, w])?;
    let [n, cin] = x.shape().dims_n::<2>(op, " [N, Cin] input")?;
    let [win, cout] = w.shape().dims_n::<2>(op, " [Cin, Cout] weight")?;
    if win != cin {
        return Err(Error::Shape {
            op,
            msg: format!(
                "input {} has {cin} features but weight {} expects {win}",
                x.shape(),
                w.shape()
            ),
        });
    }
    let g = MatmulGeom {
        m: n,
        k: cin,
        n: cout,
        trans_a: false,
        trans_b: false,
    };
    let y = matmul(x, w, g)?;
    record(
        y,
        &[x, w],
        DenseBwd {
            x: x.detach(),
            w: w.detach(),
        },
    )
}

struct DenseBwd {
    x: Tensor,
    w: Tensor,
}

impl BackwardOp for DenseBwd {
    fn name(&self) -> &'static str {
        "dense"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let [n, cin] = [self.x.dims()[0], self.x.dims()[1]];
        let cout = self.w.dims()[1];
        // dx = dy · wᵀ, dw = xᵀ · dy
        let dx = matmul(
            dy,
            &self.w,
            MatmulGeom {
                m: n,
                k: cout,
                n: cin,
                trans_a: false,
                trans_b: true,
            },
        )?;
        let dw = matmul(
            &self.x,
            dy,
            MatmulGeom {
                m: cin,
                k: n,
                n: cout,
                trans_a: true,
                trans_b: false,
            },
        )?;
        Ok(vec![Some(dx), Some(dw)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{Check, check_op, uniform};
    use crate::tensor::{Device, Rng};

    fn reference(x: &[f64], w: &[f64], n: usize, cin: usize, cout: usize) -> Vec<f64> {
        let mut y = vec![0.0; n * cout];
        for i in 0..n {
            for o in 0..cout {
                y[i * cout + o] = (0..cin).map(|c| x[i * cin + c] * w[c * cout + o]).sum();
            }
        }
        y
    }

    #[test]
    fn dense_matches_reference_and_gradients() {
        for &(n, cin, cout) in &[(1, 290, 18), (3, 18, 290), (130, 5, 7)] {
            let mut rng = Rng::new(n as u64);
            let x = uniform(&mut rng, n * cin, -1.0, 1.0);
            let w = uniform(&mut rng, cin * cout, -1.0, 1.0);
            check_op(
                &[(Shape::new([n, cin]), x), (Shape::new([cin, cout]), w)],
                |t| dense(&t[0], &t[1]),
                |v| reference(&v[0], &v[1], n, cin, cout),
                Check {
                    fwd_tol: 1e-5,
                    ..Check::default()
                },
            );
        }
    }

    /// `op(A)·op(B)` in `f64` for row-major `a`, `b` stored as `g` describes.
    fn matmul_reference(a: &[f32], b: &[f32], g: MatmulGeom) -> Vec<f64> {
        let MatmulGeom { m, k, n, .. } = g;
        let at = |i: usize, p: usize| if g.trans_a { a[p * m + i] } else { a[i * k + p] } as f64;
        let bt = |p: usize, j: usize| if g.trans_b { b[j * k + p] } else { b[p * n + j] } as f64;
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn emulator_matmul_matches_cpu_for_every_transpose() {
        let (cpu, emu) = (
            crate::ops::backend(Device::Cpu).unwrap(),
            crate::ops::backend(Device::Emu).unwrap(),
        );
        // Sizes below, at and above the 32×32 tile and the 16-deep k step; empty products.
        let sizes = [
            (1, 1, 1),
            (33, 17, 31),
            (5, 40, 70),
            (32, 16, 32),
            (65, 3, 2),
            (2, 0, 3),
            (0, 4, 2),
        ];
        for (idx, &(m, k, n)) in sizes.iter().enumerate() {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                let g = MatmulGeom {
                    m,
                    k,
                    n,
                    trans_a,
                    trans_b,
                };
                let mut rng = Rng::new(100 + idx as u64);
                let a = uniform(&mut rng, m * k, -1.0, 1.0);
                let b = uniform(&mut rng, k * n, -1.0, 1.0);
                let want = matmul_reference(&a, &b, g);
                let run = |be: &dyn crate::ops::Backend| {
                    let (ab, bb) = (be.upload(&a).unwrap(), be.upload(&b).unwrap());
                    be.download(&be.matmul(&ab, &bb, g).unwrap()).unwrap()
                };
                let what = format!("{g:?}");
                let got = run(emu);
                crate::ops::testing::assert_close(&what, &got, &want, 1e-6);
                crate::ops::testing::assert_close(&what, &run(cpu), &want, 1e-6);
                let again = run(emu);
                assert!(
                    got.iter()
                        .zip(&again)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{what}: not reproducible"
                );
            }
        }
    }

    #[test]
    fn dense_rejects_mismatched_features() {
        let x = Tensor::zeros([2, 3], Device::Cpu).unwrap();
        let w = Tensor::zeros([4, 5], Device::Cpu).unwrap();
        let e = dense(&x, &w).unwrap_err().to_string();
        assert!(
            e.contains("dense") && e.contains("[2, 3]") && e.contains("[4, 5]"),
            "{e}"
        );
        let e = dense(&w.reshape([20]).unwrap(), &w)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rank-2"), "{e}");
    }
}
