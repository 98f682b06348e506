//! Launches of `kernels/adam.cu` (CUDA GPU and emulator): the elementwise Adam update, bitwise
//! equal to the CPU's.
//!
//! At the end, [`AdamKernel`] for `GpuBackend` calls the launches above.

use super::AdamKernel;
use crate::backend::Buffer;
use crate::backend::gpu::{Arg, GpuBackend, KernelSig, LaunchCfg, Param::*, Runtime};
use crate::error::Result;
use crate::ops::AdamStep;

const FAMILY: &str = "adam";
pub(crate) const ADAM: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_adam",
    params: &[
        PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, I64, F32, F32, F32, F32,
    ],
};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[&ADAM];

pub(crate) fn update(
    rt: &dyn Runtime,
    param: &Buffer,
    grad: &Buffer,
    m: &Buffer,
    v: &Buffer,
    step: AdamStep,
) -> Result<(Buffer, Buffer, Buffer)> {
    let len = param.len();
    let (po, mo, vo) = (rt.alloc(len)?, rt.alloc(len)?, rt.alloc(len)?);
    rt.launch(
        &ADAM,
        LaunchCfg::elementwise(len),
        &[
            Arg::Buf(&po),
            Arg::Buf(&mo),
            Arg::Buf(&vo),
            Arg::Buf(param),
            Arg::Buf(grad),
            Arg::Buf(m),
            Arg::Buf(v),
            Arg::I64(len as i64),
            Arg::F32(step.lr_t),
            Arg::F32(step.beta1),
            Arg::F32(step.beta2),
            Arg::F32(step.eps),
        ],
    )?;
    Ok((po, mo, vo))
}

impl AdamKernel for GpuBackend {
    fn adam(
        &self,
        param: &Buffer,
        grad: &Buffer,
        m: &Buffer,
        v: &Buffer,
        step: AdamStep,
    ) -> Result<(Buffer, Buffer, Buffer)> {
        update(self.runtime(), param, grad, m, v, step)
    }
}
