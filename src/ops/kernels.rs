//! The launch table: every kernel of `kernels/*.cu` with its parameters, gathered from the op
//! families (each declares its kernels beside its launch code, in its `gpu.rs`) and from the
//! backend's self-test of the execution model. The runtimes do not need it (the CUDA runtime
//! loads every embedded fatbin, the emulator registers every kernel build.rs compiled, and
//! each launch carries its own signature); its tests check it against the compiled kernels.

use super::{adam, conv3d, dense, elementwise, loss, norm, resample, warp};
use crate::backend::gpu::{KernelSig, selftest};

/// Each family's kernels.
pub static FAMILIES: &[&[&KernelSig]] = &[
    elementwise::gpu::KERNELS,
    conv3d::gpu::KERNELS,
    norm::gpu::KERNELS,
    resample::gpu::KERNELS,
    dense::gpu::KERNELS,
    warp::gpu::KERNELS,
    loss::gpu::KERNELS,
    adam::gpu::KERNELS,
    selftest::KERNELS,
];

/// Every kernel, family by family.
pub fn all() -> impl Iterator<Item = &'static KernelSig> {
    FAMILIES.iter().flat_map(|f| f.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn kernel_names_are_unique() {
        let mut seen = HashSet::new();
        for k in all() {
            assert!(seen.insert(k.name), "kernel {} is declared twice", k.name);
        }
    }

    /// The table and the compiled kernels agree: same set of names, and each parameter list
    /// equals the one read off the C++ function type, so a launch can only pack what the
    /// kernel takes.
    #[test]
    fn table_matches_the_compiled_kernels() {
        let compiled = crate::backend::emu::compiled_kernels();
        let table: Vec<_> = all().collect();
        for k in &table {
            let Some((_, sig)) = compiled.iter().find(|(n, _)| n == k.name) else {
                panic!("{k}: declared in the launch table but exported by no kernels/*.cu file");
            };
            assert_eq!(
                sig,
                &k.signature(),
                "{}: the launch table says ({}) but the kernel takes ({sig})",
                k.name,
                k.signature()
            );
        }
        for (name, _) in &compiled {
            assert!(
                table.iter().any(|k| k.name == name),
                "kernel {name} is exported but missing from the launch table"
            );
        }
    }
}
