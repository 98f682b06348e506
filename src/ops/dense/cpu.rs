//! CPU matrix product through `matrixmultiply`'s sgemm, parallel over fixed blocks of rows.
//!
//! At the end, [`DenseKernel`] for `CpuBackend` unwraps buffers and calls the math above.

use super::DenseKernel;
use crate::backend::Buffer;
use crate::backend::cpu::{CpuBackend, out};
use crate::error::Result;
use crate::ops::MatmulGeom;
use rayon::prelude::*;

/// Rows of the output per parallel work item.
const ROW_BLOCK: usize = 64;

/// `C = op(A) · op(B)` in row-major storage.
pub fn matmul(a: &[f32], b: &[f32], g: MatmulGeom) -> Vec<f32> {
    let MatmulGeom {
        m,
        k,
        n,
        trans_a,
        trans_b,
    } = g;
    let mut c = vec![0.0f32; m * n];
    if m == 0 || n == 0 {
        return c;
    }
    // Strides of op(A) [m, k] and op(B) [k, n] in elements.
    let (rsa, csa) = if trans_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (rsb, csb) = if trans_b {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    c.par_chunks_mut(ROW_BLOCK * n)
        .enumerate()
        .for_each(|(blk, c)| {
            let row0 = blk * ROW_BLOCK;
            let rows = c.len() / n;
            let a0 = if trans_a { row0 } else { row0 * k };
            // SAFETY: the strides and extents describe sub-matrices inside `a`, `b` and this
            // block of `c`, which no other work item touches.
            unsafe {
                matrixmultiply::sgemm(
                    rows,
                    k,
                    n,
                    1.0,
                    a.as_ptr().add(a0),
                    rsa,
                    csa,
                    b.as_ptr(),
                    rsb,
                    csb,
                    0.0,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
        });
    c
}

impl DenseKernel for CpuBackend {
    fn matmul(&self, a: &Buffer, b: &Buffer, g: MatmulGeom) -> Result<Buffer> {
        out(matmul(a.host()?, b.host()?, g))
    }
}
