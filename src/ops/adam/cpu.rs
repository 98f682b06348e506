//! CPU math of the Adam update (Keras 2 form: `p -= lr_t · m / (√v + ε)`).
//!
//! At the end, [`AdamKernel`] for `CpuBackend` unwraps buffers and calls the math above.

use super::AdamKernel;
use crate::backend::Buffer;
use crate::backend::cpu::CpuBackend;
use crate::error::Result;
use crate::ops::AdamStep;
use crate::ops::elementwise::cpu::CHUNK;
use rayon::prelude::*;

pub fn update(
    p: &[f32],
    g: &[f32],
    m: &[f32],
    v: &[f32],
    s: AdamStep,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut po = p.to_vec();
    let mut mo = m.to_vec();
    let mut vo = v.to_vec();
    po.par_chunks_mut(CHUNK)
        .zip(mo.par_chunks_mut(CHUNK))
        .zip(vo.par_chunks_mut(CHUNK))
        .zip(g.par_chunks(CHUNK))
        .for_each(|(((p, m), v), g)| {
            for i in 0..p.len() {
                m[i] = s.beta1 * m[i] + (1.0 - s.beta1) * g[i];
                v[i] = s.beta2 * v[i] + (1.0 - s.beta2) * g[i] * g[i];
                p[i] -= s.lr_t * m[i] / (v[i].sqrt() + s.eps);
            }
        });
    (po, mo, vo)
}

impl AdamKernel for CpuBackend {
    fn adam(
        &self,
        param: &Buffer,
        grad: &Buffer,
        m: &Buffer,
        v: &Buffer,
        step: AdamStep,
    ) -> Result<(Buffer, Buffer, Buffer)> {
        let (p, m, v) = update(param.host()?, grad.host()?, m.host()?, v.host()?, step);
        Ok((
            Buffer::from_host_vec(p),
            Buffer::from_host_vec(m),
            Buffer::from_host_vec(v),
        ))
    }
}
